"""The ci/ scripts run directly on a machine whose ``python3`` has never seen the package.

CI jobs and release engineers call ``ci/sdk-release-gate`` without activating a virtual environment. The
tests below put a ``python3`` first on PATH that cannot import anything installed (``-I -S``: no
site-packages), copy the scripts into a repository-like directory and check that they find the project's
interpreter in its ``.venv``, or say in one line how to install it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CI_DIR = Path(__file__).resolve().parent.parent / "ci"
SCRIPTS = ("sdk-release-gate", "nightly-fuzz", "bench", "corpus-stability")


def _bare_python_path(tmp_path: Path) -> str:
    """A PATH whose python3 is the base interpreter without any site-packages (so without conformance)."""
    bin_dir = tmp_path / "bare-bin"
    bin_dir.mkdir()
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    wrapper = bin_dir / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec "{base}" -I -S "$@"\n')
    wrapper.chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


def _repository(tmp_path: Path, with_venv: bool) -> Path:
    """A copy of ci/ in a fresh directory, optionally beside a .venv whose python is this test's interpreter."""
    root = tmp_path / "repo"
    shutil.copytree(CI_DIR, root / "ci")
    if with_venv:
        venv_bin = root / ".venv" / "bin"
        venv_bin.mkdir(parents=True)
        python = venv_bin / "python"
        python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        python.chmod(0o755)
    return root


def _run(command: list[str], path: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("CONFORMANCE_PYTHON", "VIRTUAL_ENV")}
    environment["PATH"] = path
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120, check=False)


def test_the_bare_python_really_lacks_the_package(tmp_path: Path) -> None:
    done = _run(["python3", "-c", "import conformance"], _bare_python_path(tmp_path), tmp_path)
    assert done.returncode != 0 and "No module named 'conformance'" in done.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_script_finds_the_venv_when_run_directly(tmp_path: Path, script: str) -> None:
    root = _repository(tmp_path, with_venv=True)
    done = _run([str(root / "ci" / script), "--help"], _bare_python_path(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout and "Traceback" not in done.stderr


def test_the_gate_does_its_work_through_the_wrapper(tmp_path: Path) -> None:
    root = _repository(tmp_path, with_venv=True)
    done = _run(
        [str(root / "ci" / "sdk-release-gate"), "--no-build", "--no-corpus"], _bare_python_path(tmp_path), tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "sdk-release-gate: nothing to check: no fixtures selected and no extra plugins"


@pytest.mark.parametrize("launcher", ["direct", "sh", "python"])
def test_without_any_interpreter_for_the_package_it_says_how_to_install_in_one_line(
    tmp_path: Path, launcher: str
) -> None:
    root = _repository(tmp_path, with_venv=False)
    gate = str(root / "ci" / "sdk-release-gate")
    command = {"direct": [gate], "sh": ["sh", gate], "python": ["python3", gate]}[launcher]
    done = _run([*command, "--help"], _bare_python_path(tmp_path), tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("sdk-release-gate: ") and "pip install -e" in lines[0]


def test_an_interpreter_named_by_the_caller_is_used_first(tmp_path: Path) -> None:
    """``python ci/x`` (as tox runs it with its own env) keeps that interpreter, even beside a .venv."""
    root = _repository(tmp_path, with_venv=True)
    (root / ".venv" / "bin" / "python").write_text("#!/bin/sh\necho wrong interpreter >&2; exit 9\n")
    done = _run(
        [sys.executable, str(root / "ci" / "sdk-release-gate"), "--help"], _bare_python_path(tmp_path), tmp_path
    )
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr
