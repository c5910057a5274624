"""ci/sdk-release-gate: passes on the committed corpus, fails when a plugin regresses; never touches the repo."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS_SHARDS, GATE, GateRun

from conformance.fixtures import list_fixtures
from conformance.report.schema import schema_errors

#: Every test here runs the release gate (a battery over fixtures) in a subprocess.
pytestmark = pytest.mark.slow


def gate(workdir: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(GATE), f"--report-dir={workdir / 'reports'}", *args]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False)


def gate_json(workdir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((workdir / "reports" / "gate.json").read_text())
    return data


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_gate_passes_on_each_shard_of_the_committed_corpus(corpus_shard: tuple[int, GateRun]) -> None:
    """Each shard of the corpus (the runs the corpus self-test reads, merged) passes, with valid reports."""
    index, done = corpus_shard
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "sdk-release-gate: PASS" in done.stdout and f"shard {index}/{CORPUS_SHARDS}: " in done.stdout
    reports = done.report_dir
    result: dict[str, Any] = json.loads((reports / "gate.json").read_text())
    assert result["verdict"] == "pass" and result["problems"] == [] and result["fixtures"]
    assert result["shard"] == f"{index}/{CORPUS_SHARDS}"
    for name in result["fixtures"]:
        report = json.loads((reports / name / "report.json").read_text())
        assert schema_errors(report) == [], name
        assert (reports / name / "report.html").exists()
    assert (reports / "index.html").exists() and (reports / "junit.xml").exists()
    assert (reports / "summary.md").read_text().splitlines()[1] == "# SDK release gate: \u2705 PASS"


def test_gate_passes_on_the_committed_corpus(corpus_gate_run: GateRun) -> None:
    """The shards merged: one passing verdict over every fixture of the corpus."""
    done = corpus_gate_run
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    reports = done.report_dir
    result: dict[str, Any] = json.loads((reports / "gate.json").read_text())
    assert result["verdict"] == "pass" and result["problems"] == []
    assert result["fixtures"] == sorted(info.name for info in list_fixtures()) and len(result["fixtures"]) > 30
    for name in result["fixtures"]:
        assert (reports / name / "report.json").exists() and (reports / name / "report.html").exists()
    assert (reports / "index.html").exists() and (reports / "junit.xml").exists()
    summary = (reports / "summary.md").read_text()
    assert summary.splitlines()[1] == "# SDK release gate: \u2705 PASS"


def test_gate_fails_when_a_conforming_fixture_is_swapped_for_a_defective_one(
    tmp_path: Path, fixture_so: Callable[[str], Path]
) -> None:
    real = fixture_so("conforming_processor")
    before = digest(real)
    impostor = tmp_path / "swap" / "libconforming_processor.so"
    impostor.parent.mkdir()
    shutil.copyfile(fixture_so("panicking"), impostor)
    done = gate(tmp_path, "--no-build", "--fixtures=conforming_processor", str(impostor))
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "replaces the fixture conforming_processor" in done.stdout
    assert "sdk-release-gate: FAIL" in done.stdout
    result = gate_json(tmp_path)
    assert result["fixtures"] == ["conforming_processor"]
    assert any(
        line.startswith("conforming_processor: wire-in.text.ascii: expected pass, got fail")
        for line in result["problems"]
    ), result["problems"][:5]
    report = json.loads((tmp_path / "reports" / "conforming_processor" / "report.json").read_text())
    assert report["plugin"]["path"] == str(impostor) and schema_errors(report) == []
    assert (tmp_path / "reports" / "summary.md").read_text().splitlines()[1] == "# SDK release gate: \u274c FAIL"
    assert digest(real) == before


def test_gate_holds_a_clean_swap_to_the_fixture_expectation(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    copy = tmp_path / "swap" / "libconforming_processor.so"
    copy.parent.mkdir()
    shutil.copyfile(fixture_so("conforming_processor"), copy)
    done = gate(tmp_path, "--no-build", "--fixtures=conforming_processor", str(copy))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_extra_plugin_is_held_to_its_baseline(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    vendor = tmp_path / "libvendor_filter.so"
    shutil.copyfile(fixture_so("panicking"), vendor)
    done = gate(tmp_path, "--no-build", "--no-corpus", str(vendor))
    assert done.returncode == 1
    assert any(line.startswith("vendor_filter: wire-in.text.ascii: fail") for line in gate_json(tmp_path)["problems"])

    failing = [
        check["id"]
        for check in json.loads((tmp_path / "reports" / "vendor_filter" / "report.json").read_text())["checks"]
        if check["status"] not in ("pass", "skip")
    ]
    entries = "".join(
        f'[[accepted]]\nplugin = "vendor_filter"\ncheck = "{item}"\nreason = "known panic"\n\n' for item in failing
    )
    baseline = tmp_path / "baseline.toml"
    baseline.write_text(entries)
    done = gate(tmp_path, "--no-build", "--no-corpus", f"--baseline={baseline}", str(vendor))
    assert done.returncode == 0, done.stdout[-3000:]
    report = json.loads((tmp_path / "reports" / "vendor_filter" / "report.json").read_text())
    assert report["baseline"]["known"] == failing and report["baseline"]["outcome"] == "pass"

    expired = entries.replace('reason = "known panic"\n\n', 'reason = "known panic"\nexpires = 2020-01-01\n\n', 1)
    baseline.write_text(expired)
    done = gate(tmp_path, "--no-build", "--no-corpus", f"--baseline={baseline}", str(vendor))
    assert done.returncode == 1
    assert any("expired on 2020-01-01" in line for line in gate_json(tmp_path)["problems"])


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("--no-build", "--no-corpus", "missing.so"), "neither a plugin file nor a cargo project"),
        (("--no-build", "--fixtures=no_such_fixture"), "no fixture named 'no_such_fixture'"),
        (("--no-build", "--no-corpus"), "nothing to check"),
    ],
)
def test_gate_usage_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], complaint: str) -> None:
    done = gate(tmp_path, *args, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and complaint in done.stderr


def test_bad_baseline_stops_the_gate_before_the_run(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    baseline = tmp_path / "baseline.toml"
    baseline.write_text('[[accepted]]\nplugin = "x"\ncheck = "load.dlopen"\n')
    done = gate(tmp_path, "--no-build", "--no-corpus", f"--baseline={baseline}", str(fixture_so("panicking")))
    assert done.returncode == 2 and "`reason` must be a non-empty string" in done.stderr
    assert "running the battery" not in done.stdout
