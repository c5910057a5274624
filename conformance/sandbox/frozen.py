"""Starting this package's helper processes from a frozen (PyInstaller) fuzzer.

OSS-Fuzz and ClusterFuzzLite build a Python fuzz target into a PyInstaller
one-file executable (``compile_python_fuzzer``). There, ``sys.executable`` is
that executable: it runs its fuzz target whatever its arguments, so the sandbox's
usual ``sys.executable -m conformance.sandbox.server`` would start a second
fuzzer instead of the fork server. Under a frozen interpreter the command is
the executable itself with ``CONFORMANCE_FROZEN_ROLE=<module>`` in its
environment, and a PyInstaller runtime hook
(``.clusterfuzzlite/pyi_rth_conformance_role.py``, which runs before the entry
script) runs that module as ``__main__``, as ``-m`` would, instead of the fuzz target. The fuzz
targets themselves do not change, and the sandbox keeps isolating the plugin
exactly as it does under ``python fuzz/<target>.py``.
"""

from __future__ import annotations

import os
import runpy
import sys

#: Environment variable naming the module a frozen executable runs instead of its entry script.
ROLE_ENV = "CONFORMANCE_FROZEN_ROLE"
#: Modules a frozen executable may be asked to run (each runnable with ``python -m``).
ROLES: frozenset[str] = frozenset({"conformance.sandbox.server"})


def is_frozen() -> bool:
    """True inside a PyInstaller bundle (``sys.frozen`` is set by its bootloader)."""
    return bool(getattr(sys, "frozen", False))


def module_command(module: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run ``python -m module args...`` with this interpreter, frozen
    or not."""
    env = dict(os.environ)
    env.pop(ROLE_ENV, None)
    if not is_frozen():
        return [sys.executable, "-m", module, *args], env
    if module not in ROLES:
        raise ValueError(f"{module} cannot run from a frozen executable (known roles: {', '.join(sorted(ROLES))})")
    env[ROLE_ENV] = module
    return [sys.executable, *args], env


def run_role_from_environment() -> None:
    """In a frozen executable started by ``module_command``: run the requested module as ``__main__`` (its
    arguments are this executable's) and exit.

    Does nothing when no role is requested (the fuzz target runs as usual). The
    variable is removed first so that processes the role starts are plain again.
    """
    module = os.environ.pop(ROLE_ENV, None)
    if not module:
        return
    if module not in ROLES:
        raise SystemExit(f"{ROLE_ENV}={module}: not a role of this executable")
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    sys.exit(0)
