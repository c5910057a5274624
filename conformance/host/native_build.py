"""Native helpers the tool compiles once per user: a few lines of C built with the system compiler.

The host's callback guard, the sandbox's fault reporter and the libFuzzer
runtime are each built on first use into a per-user cache, keyed by a digest
of their source, so a new version of the tool never loads a stale helper.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path


def cache_dir() -> Path:
    """Per-user cache of native helpers the tool compiles once (fault reporter, libFuzzer runtime)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "streamkit-conformance"


@lru_cache(maxsize=4)
def native_library(stem: str, source: str, purpose: str) -> tuple[Path | None, str]:
    """(path of the compiled helper ``stem``, or None; why not). Built once per source version.

    Shared by the fault reporter and the callback guard (``conformance.host.native_guard``):
    a few lines of C compiled with the system compiler into the per-user cache.
    """
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    target = cache_dir() / f"{stem}-{digest}.so"
    if target.exists():
        return target, ""
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        return None, f"no C compiler to build the {purpose} (install gcc)"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as work:
            source_path = Path(work) / f"{stem}.c"
            source_path.write_text(source)
            built = Path(work) / f"{stem}.so"
            completed = subprocess.run(
                [compiler, "-shared", "-fPIC", "-O1", "-o", str(built), str(source_path)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if completed.returncode != 0:
                return None, f"the {purpose} did not compile: {completed.stderr.strip()[:200]}"
            temporary = target.with_suffix(f".{os.getpid()}.tmp")
            shutil.copy(built, temporary)
            os.replace(temporary, target)
    except OSError as error:
        return None, f"the {purpose} could not be built: {error}"
    return target, ""
