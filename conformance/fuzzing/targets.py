"""The fuzz targets: scripts in ``fuzz/``, loaded as modules by the seed writer, the tests and the nightly job."""

from __future__ import annotations

import importlib.util
import sys
import types

from conformance.fuzzing.paths import FUZZ_DIR

#: Every target, in the order the nightly job runs them.
TARGETS: tuple[str, ...] = ("wire_decode", "wire_roundtrip", "metadata_decode", "plugin_intake")


def load_target(name: str) -> types.ModuleType:
    """Import ``fuzz/<name>.py`` (not a package: the targets are scripts) as module ``fuzz_<name>``."""
    module_name = f"fuzz_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = FUZZ_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no fuzz target at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
