"""The `conformance` command line, run as a user runs it."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.checks.registry import catalogue


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        check=False,
    )


def test_check_conforming_exits_0_with_progress_and_summary(fixture_so: Callable[[str], Path], tmp_path: Path) -> None:
    # Exit status, progress and summary need a few categories, not the whole battery: the whole battery on the
    # conforming fixture runs in tests/test_pytest_entry.py (and through the CLI in the slow -j 2 test below).
    plugin = str(fixture_so("conforming_processor"))
    done = cli("check", plugin, "-k", "load or wire-in.text", "--report-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "conforming_processor: PASS" in done.stdout and "v9 compatible" in done.stdout
    assert "checks, " in done.stderr and "0 failures" in done.stderr  # plain progress (not a terminal)
    assert "\x1b[" not in done.stderr
    assert (tmp_path / "r" / "conforming_processor" / "report.json").exists()


@pytest.mark.slow  # scale-out / interrupt: a whole battery or more in subprocesses
def test_check_with_jobs_counts_progress_against_the_whole_battery(
    fixture_so: Callable[[str], Path], tmp_path: Path
) -> None:
    plugins = [str(fixture_so("conforming_processor")), str(fixture_so("conforming_source"))]
    done = cli("check", *plugins, "-j", "2", "--report-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    items = len(catalogue())  # v9 plugins: one item per check
    for label in ("conforming_processor", "conforming_source"):
        assert f"{label}: {items}/{items} checks" in done.stderr
        assert f"{label}: PASS" in done.stdout


def test_check_defective_exits_1_naming_the_failure(fixture_so: Callable[[str], Path], tmp_path: Path) -> None:
    # Its one failure is wire-in.binary.with-meta[v9]; the rest of the battery passes (fixture_plugins/v8_strict_len).
    plugin = str(fixture_so("v8_strict_len"))
    done = cli("check", plugin, "-k", "load or wire-in.binary", "--report-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert done.returncode == 1
    assert "v8 compatible, v9 INCOMPATIBLE" in done.stdout
    assert "BinaryWithMeta len must be 32, got 48" in done.stdout


def test_check_text_file_exits_2_with_one_line(tmp_path: Path) -> None:
    text = tmp_path / "libnotes.so"
    text.write_text("just text\n")
    done = cli("check", str(text), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "not loadable" in done.stderr
    assert "Traceback" not in done.stderr


def test_version_names_the_abi_range() -> None:
    done = cli("--version")
    assert done.returncode == 0 and "ABI v6-v9" in done.stdout


def test_list_checks_json_is_the_catalogue() -> None:
    done = cli("list-checks", "--json")
    rows = json.loads(done.stdout)
    assert [row["id"] for row in rows] == [check.id for check in catalogue()]
    assert {"category", "severity", "abi_ref", "rationale", "budget_s"} <= set(rows[0])


def test_repro_reproduces_the_reported_status(fixture_so: Callable[[str], Path], tmp_path: Path) -> None:
    plugin = fixture_so("lying_send_tls")
    done = cli("check", str(plugin), "--report-dir", str(tmp_path / "r"), "-k", "threading", cwd=tmp_path)
    report = json.loads((tmp_path / "r" / "lying_send_tls" / "report.json").read_text())
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert failed and done.returncode == 1
    command = failed[0]["repro"].split()
    assert command[:2] == ["conformance", "repro"]
    again = cli(*command[1:], cwd=tmp_path)
    assert again.returncode == 1
    assert f"{failed[0]['id']} [required, threading] FAIL" in again.stdout


def test_repro_unknown_check_is_a_usage_error(fixture_so: Callable[[str], Path]) -> None:
    done = cli("repro", str(fixture_so("conforming_processor")), "no.such-check")
    assert done.returncode == 2 and "no check" in done.stderr and "Traceback" not in done.stderr


def test_repro_in_process_and_trace(fixture_so: Callable[[str], Path]) -> None:
    done = cli("repro", str(fixture_so("conforming_processor")), "wire-in.text.utf8", "--in-process", "--trace")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CallStarted" in done.stdout and "wire-in.text.utf8: PASS" in done.stdout


def test_repro_trace_through_the_sandbox_shows_every_event(fixture_so: Callable[[str], Path]) -> None:
    """A completed scenario's result leaves out the calls' announcements, unless the trace is asked for."""
    done = cli("repro", str(fixture_so("conforming_processor")), "wire-in.text.utf8", "--trace")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CallStarted" in done.stdout and "GuardRegion" in done.stdout and "wire-in.text.utf8: PASS" in done.stdout


def test_explain_every_check_id_through_the_command_line() -> None:
    ids = [check.id for check in catalogue()]
    for check_id in (ids[0], ids[len(ids) // 2], ids[-1], "wire-in.binary.plain[v8]"):
        done = cli("explain", check_id)
        assert done.returncode == 0, done.stderr
        assert check_id.split("[")[0] in done.stdout and "How to fix" in done.stdout


def test_explain_unknown_id_suggests_close_ones() -> None:
    done = cli("explain", "wire-in.text.asci")
    assert done.returncode == 2 and "wire-in.text.ascii" in done.stderr and "Traceback" not in done.stderr


def test_every_command_has_its_module() -> None:
    """The dispatcher loads ``conformance.commands.<name>`` by name: a command the parser offers must have one."""
    usage = cli("--help").stdout
    offered = re.search(r"\{([a-z,-]+)\}", usage)
    assert offered is not None, usage
    for command in offered.group(1).split(","):
        module = importlib.import_module(f"conformance.commands.{command.replace('-', '_')}")
        assert callable(module.run), command


#: What only ``check`` and ``repro`` need; the light commands must not import it (their start-up time).
_HEAVY = ("pytest", "_pytest", "xdist", "cffi", "conformance.battery", "conformance.pytest_face", "conformance.heavy")
_IMPORTED_BY = """
import sys
from conformance.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["explain", "load.dlopen"], ["list-checks"]])
def test_a_light_command_imports_nothing_heavy(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTED_BY, *args], capture_output=True, text=True, timeout=60, check=False
    )
    loaded = done.stderr.split()
    heavy = [name for name in loaded if name.split(".")[0] in _HEAVY or name.startswith(_HEAVY)]
    assert loaded and heavy == []
