"""`pytest --plugin=...` end to end, from an empty directory, as a plugin author runs it."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import BatteryRun, CorpusGate

Runner = Callable[..., BatteryRun]


def _report(report_dir: Path, label: str) -> dict[str, Any]:
    return dict(json.loads((report_dir / label / "report.json").read_text()))


def test_conforming_processor_passes_every_check(three_plugins: BatteryRun) -> None:
    """Read from the session's whole-battery run over three plugins (conftest.three_plugins): the conforming
    plugin's report is its own there. A plain run's exit status 0 is tests/test_cli.py's and test_containment's."""
    report = three_plugins.report("conforming_processor")
    assert report["verdict"] == "pass"
    assert report["schema_version"] and report["plugin"]["api_version"] == 9
    assert len(report["plugin"]["sha256"]) == 64
    statuses = {entry["id"]: entry["status"] for entry in report["checks"]}
    assert statuses and all(status in ("pass", "skip") for status in statuses.values()), {
        k: v for k, v in statuses.items() if v not in ("pass", "skip")
    }
    assert all({"id", "category", "severity", "status", "message", "evidence"} <= set(e) for e in report["checks"])
    assert "report written to" in three_plugins.stdout


def test_version5_is_refused_naming_v5_and_the_range(three_plugins: BatteryRun) -> None:
    check = three_plugins.checks("version5")["load.version-gate"]
    assert check["status"] == "fail"
    assert "plugin has v5" in check["message"] and "v6\u2013v9" in check["message"]
    assert three_plugins.report("version5")["verdict"] == "fail"


def test_missing_symbol_names_the_symbol(fixture_so: Callable[[str], Path], run_battery: Runner) -> None:
    run = run_battery(fixture_so("no_entry_symbol"))
    assert run.returncode == 1
    check = run.checks("no_entry_symbol")["load.entry-symbol"]
    assert check["status"] == "fail" and "streamkit_native_plugin_api" in check["message"]


def test_constructor_abort_is_a_crash_at_load(panic_and_abort: BatteryRun) -> None:
    run = panic_and_abort  # ctor_abort beside panicking (conftest.panic_and_abort)
    assert run.returncode == 1  # pytest itself survived and reported
    check = run.checks("ctor_abort")["load.dlopen"]
    assert check["status"] == "crash"
    assert check["evidence"]["signal"] == "SIGABRT"
    assert check["evidence"]["in_flight"]["entry"] == "dlopen"
    assert "ctor_abort" in check["evidence"].get("stderr_tail", "")


def test_wedged_process_packet_is_a_timeout_with_stacks(fixture_so: Callable[[str], Path], run_battery: Runner) -> None:
    run = run_battery(fixture_so("wedging"), args=("-k", "timeouts or wire-in.text.ascii"))
    assert run.returncode == 1
    skipped = run.checks("wedging")["wire-in.text.ascii"]
    assert skipped["status"] == "skip" and "process_packet did not return during triage" in skipped["message"]
    check = run.checks("wedging")["timeouts.process-packet"]
    assert check["status"] == "timeout"
    assert check["evidence"]["in_flight"]["entry"] == "process_packet"
    assert "did not return within" in check["message"]
    if shutil.which("gdb"):
        assert "wedging" in (check["evidence"]["stacks"] or "")
    else:
        assert "gdb" in check["evidence"]["stack_tool"]
    assert check["repro"].startswith("conformance repro ")


@pytest.mark.parametrize("kind", ["missing", "directory", "text", "foreign", "executable"])
def test_bad_input_gets_one_line_and_a_report(
    kind: str, tmp_path: Path, fixture_so: Callable[[str], Path], run_battery: Runner
) -> None:
    if kind == "missing":
        target = tmp_path / "libmissing.so"
    elif kind == "directory":
        target = tmp_path / "libdir.so"
        target.mkdir()
    elif kind == "text":
        target = tmp_path / "libtext.so"
        target.write_text("not a library\n")
    elif kind == "foreign":
        target = tmp_path / "libforeign.so"
        data = bytearray(fixture_so("conforming_processor").read_bytes())
        struct.pack_into("<H", data, 18, 183)
        target.write_bytes(bytes(data))
    else:
        true = shutil.which("true")
        assert true is not None
        target = tmp_path / "libexe.so"
        shutil.copy(true, target)
    run = run_battery(target)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr + run.stdout
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "not loadable" in lines[0] and str(target) in lines[0]
    report = run.report(target.name.removeprefix("lib").removesuffix(".so"))
    assert report["verdict"] == "fail"
    assert report["plugin"]["load_problem"].startswith("not loadable: ")


def test_junit_xml_uses_check_ids(three_plugins: BatteryRun) -> None:
    text = (three_plugins.report_dir.parent / "junit.xml").read_text()
    assert 'name="load.version-gate"' in text and "plugin has v5" in text


@pytest.mark.slow  # scale-out / interrupt: a whole battery or more in subprocesses
@pytest.mark.parametrize("dist", [(), ("--dist", "worksteal")], ids=["load", "worksteal"])
def test_xdist_runs_each_plugin_on_one_worker_with_the_same_verdicts(
    fixture_so: Callable[[str], Path], run_battery: Runner, corpus_gate: CorpusGate, dist: tuple[str, ...]
) -> None:
    """The verdicts without xdist are those of the session's corpus gate, a plain battery run over these
    fixtures among others (its baseline marks expected failures "known" and changes no status).

    ``worksteal`` hands out whole plugins as ``load`` does: stealing single items split a battery between
    the workers."""
    labels = ("conforming_processor", "conforming_source", "params_unwrap")
    alone = {label: _report(corpus_gate.shard_of(label).report_dir, label) for label in labels}
    assert [alone[label]["verdict"] for label in labels] == ["pass", "pass", "fail"]  # a plain run's exit status: 1
    alone_checks = {label: {entry["id"]: entry for entry in report["checks"]} for label, report in alone.items()}
    spread = run_battery(*map(fixture_so, labels), args=("-n", "2", *dist, "-vv"))  # -q is already given
    assert spread.returncode == 1
    source = spread.report("conforming_source")
    assert source["verdict"] == "pass" and source["plugin"]["node_kind"] == "source"
    for label, checks in alone_checks.items():
        assert {k: v["status"] for k, v in spread.checks(label).items()} == {k: v["status"] for k, v in checks.items()}
        workers = {
            line.split()[0] for line in spread.stdout.splitlines() if f"{label}::" in line and line.startswith("[gw")
        }
        assert len(workers) == 1, (label, workers)
