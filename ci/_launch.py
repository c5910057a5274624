"""Start a ``ci/`` script with the project's interpreter, whatever ``python3`` the caller has.

The extension-less scripts in ``ci/`` are run directly by CI jobs and people, usually without an activated
virtual environment, so the ``python3`` on PATH may well lack the package. This picks, in order:
``$CONFORMANCE_PYTHON``; the repository's ``.venv``; the interpreter running this file; ``python3`` on PATH;
the first of them that can import ``conformance``. A caller who names an interpreter (``python ci/bench``,
tox's ``{envpython}``) gets that one first. Without any, it says how to install the package, in one line.
Only the standard library is used here: this file must run on any Python 3.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

CI_DIR = Path(__file__).resolve().parent
ROOT = CI_DIR.parent
EXIT_USAGE = 2
INSTALL_HINT = "python3 -m venv .venv && .venv/bin/pip install -e '.[dev,fuzz]'"


def _imports_conformance(python: str) -> bool:
    if python == sys.executable:
        return importlib.util.find_spec("conformance") is not None
    try:
        probe = subprocess.run(
            [python, "-c", "import conformance"], capture_output=True, timeout=60, check=False, cwd=str(ROOT)
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def candidates(caller_chose: bool) -> list[str]:
    """Interpreters to try, best first, each once."""
    found: list[str] = []
    venv = ROOT / ".venv" / "bin" / "python"
    ordered = [
        sys.executable if caller_chose else "",
        str(venv) if venv.exists() else "",
        sys.executable,
        shutil.which("python3") or "",
    ]
    for python in ordered:
        if python and python not in found:
            found.append(python)
    return found


def project_python(caller_chose: bool) -> str | None:
    explicit = os.environ.get("CONFORMANCE_PYTHON")
    if explicit:
        return explicit if _imports_conformance(explicit) else None
    for python in candidates(caller_chose):
        if _imports_conformance(python):
            return python
    return None


def main(argv: list[str], caller_chose: bool = False) -> None:
    """Run ``ci/<argv[0]>`` with the rest of ``argv``; ``caller_chose``: started as ``python ci/<name>``."""
    script, arguments = argv[0], argv[1:]
    name = Path(script).stem.replace("_", "-")
    python = project_python(caller_chose)
    if python is None:
        where = (
            f"$CONFORMANCE_PYTHON ({os.environ['CONFORMANCE_PYTHON']})"
            if os.environ.get("CONFORMANCE_PYTHON")
            else "no Python here"
        )
        print(f"{name}: {where} can import the conformance package; install it first: {INSTALL_HINT}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    target = str(CI_DIR / script)
    os.execv(python, [python, target, *arguments])


if __name__ == "__main__":
    main(sys.argv[1:])
