"""Coexistence and packaging (issue 16): the tool as installed, beside other suites, with its reference.

Run from directories outside the repository, through the console script or
pytest in a subprocess. The wheel test builds the package, installs it (not
editable) in a fresh venv and checks a fixture from an unrelated directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CorpusGate

REPO = Path(__file__).resolve().parent.parent
CONFORMANCE = str(Path(sys.executable).parent / "conformance")
FixtureSo = Callable[[str], Path]


def run(command: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    return subprocess.run(command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout, check=False)


# --- 11. a suite that owns --plugin keeps working; --conformance-plugin always works ---

_OWN_CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--plugin", default="mine", help="this project's own option")
"""
_OWN_TEST = """
def test_own_option(request):
    assert request.config.getoption("plugin") == "theirs"
"""


def test_a_suite_that_owns_plugin_is_not_broken(fixture_so: FixtureSo, tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(_OWN_CONFTEST)
    (tmp_path / "test_own.py").write_text(_OWN_TEST)
    own = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--plugin", "theirs", "test_own.py"], tmp_path)
    assert own.returncode == 0, own.stdout + own.stderr
    assert "1 passed" in own.stdout and "ArgumentError" not in own.stderr
    assert "conformance: --plugin belongs to this project's own pytest options; " in own.stdout
    assert "check a plugin with --conformance-plugin=PATH" in own.stdout
    battery = run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--plugin", "theirs",
         "--conformance-plugin", str(fixture_so("conforming_processor")), "-k", "load.dlopen"],
        tmp_path,
    )  # fmt: skip
    assert battery.returncode == 0, battery.stdout + battery.stderr
    assert "conformance: PASS - report written to" in battery.stdout


# --- 12. build-fixtures without a corpus (checked from the wheel below; here the source checkout works) ---


def test_build_fixtures_in_the_checkout_lists_the_corpus(tmp_path: Path) -> None:
    done = run([CONFORMANCE, "build-fixtures"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "conforming_processor" in done.stdout


# --- 13. the ABI reference ships with the tool and explain prints the cited sections ---


def test_every_cited_section_is_in_the_shipped_reference() -> None:
    from conformance.abi_reference import cited, section_text
    from conformance.checks.registry import catalogue

    missing = sorted(
        {f"{document} {number} ({check.id})" for check in catalogue() for document, number in cited(check.abi_ref)
         if section_text(document, number) is None}
    )  # fmt: skip
    assert missing == []


def test_docs_copy_of_the_reference_is_the_packaged_one() -> None:
    packaged = (REPO / "conformance" / "data" / "abi-reference.md").read_text(encoding="utf-8")
    assert (REPO / "docs" / "abi-reference.md").read_text(encoding="utf-8") == packaged, (
        "docs/abi-reference.md differs: cp conformance/data/abi-reference.md docs/"
    )
    assert "docs/abi-reference.md" in (REPO / "README.md").read_text(encoding="utf-8")


def test_explain_prints_the_cited_sections(tmp_path: Path) -> None:
    done = run([CONFORMANCE, "explain", "load.version-gate"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Spec: ABI.md 1.2 step 4, 2.1" in done.stdout
    assert "ABI.md \u00a71.2 What the host does at load, in order" in done.stdout
    assert "Plugin API version mismatch: plugin has v<N>, host supports v6–v9" in done.stdout
    assert "ABI.md \u00a72.1 What each version added" in done.stdout
    host = run([CONFORMANCE, "explain", "panics.process-packet"], tmp_path)
    assert host.returncode == 0
    assert "not in the shipped reference" not in host.stdout


# --- 17. the release gate: its verdict in index.html, a small junit.xml ---


@pytest.mark.slow
def test_release_gate_index_shows_the_gate_and_junit_stays_small(corpus_gate: CorpusGate) -> None:
    """Read from the session's gate shard that holds the panicking fixture (conftest.CorpusGate)."""
    done = corpus_gate.shard_of("panicking")
    assert done.returncode == 0, done.stdout + done.stderr
    reports = done.report_dir
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert '<header id="verdict" class="banner pass" data-verdict="pass">' in index
    assert "SDK release gate" in index and "held to their expected.toml" in index
    assert "FAIL (expected)" in index  # the panicking fixture's failures are its expected defect
    junit = reports / "junit.xml"
    plugins = len(json.loads((reports / "gate.json").read_text())["fixtures"])
    assert junit.stat().st_size < 60_000 * plugins  # was ~0.4 MB per plugin with every payload inlined
    text = junit.read_text(encoding="utf-8")
    assert "&quot;calls&quot;" not in text and "panicking/report.json" in text


# --- the built wheel in a fresh venv, run from an unrelated directory ---


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_checks_a_fixture(fixture_so: FixtureSo, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    built = run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(wheels)], tmp_path, 600)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("streamkit_conformance-*.whl")
    venv = tmp_path / "venv"
    # The venv's own pip is not under test: this pip installs into it (--python), which saves seeding one.
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path).returncode == 0
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    installed = run([*pip, "install", "-q", "--no-compile", str(wheel)], tmp_path, 900)
    assert installed.returncode == 0, installed.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    tool = str(venv / "bin" / "conformance")
    where = run([str(venv / "bin" / "python"), "-c", "import conformance; print(conformance.__file__)"], elsewhere)
    assert str(venv) in where.stdout  # the wheel's copy, not the checkout
    check = run([tool, "check", str(fixture_so("conforming_processor")), "-k", "load or wire-in.text"], elsewhere)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "conforming_processor: PASS (grade A)" in check.stdout
    battery = run(
        [str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", "--plugin", str(fixture_so("panicking")),
         "-k", "wire-in.text.ascii", "--report-dir", "pytest-reports"],
        elsewhere,
    )  # fmt: skip
    assert battery.returncode == 1, battery.stdout + battery.stderr
    assert json.loads((elsewhere / "pytest-reports" / "panicking" / "report.json").read_text())["verdict"] == "fail"
    fixtures = run([tool, "build-fixtures"], elsewhere)  # 12: no corpus in a wheel
    assert fixtures.returncode == 2
    assert fixtures.stderr.strip().splitlines() == [
        "conformance: no fixture corpus here: it ships with the source checkout, not with the installed package "
        "(clone the repository and run this command there)"
    ]
    assert not list(venv.glob("lib/python*/site-packages/fixture_plugins"))
    explain = run([tool, "explain", "load.version-gate"], elsewhere)  # 13: the reference is package data
    assert "ABI.md \u00a71.2 What the host does at load, in order" in explain.stdout
