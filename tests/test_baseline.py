"""Baselines: parsing (every mistake is one line), classification, and real runs with --baseline."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.checks.model import Severity, Status
from conformance.report.baseline import Baseline, BaselineError, load_baseline, parse_baseline
from conformance.report.schema import schema_errors

TODAY = dt.date(2026, 6, 1)
CHECKS = frozenset({"wire-in.text.ascii", "wire-in.binary.plain", "load.dlopen"})
TEXT_FAILURES = (
    "wire-in.text.ascii",
    "wire-in.text.utf8",
    "wire-in.text.empty",
    "wire-in.text.interior-nul",
    "wire-in.text.long",
)


def entry(check: str, plugin: str = "panicking", reason: str = "accepted for now", expires: str | None = None) -> str:
    return (
        f'[[accepted]]\nplugin = "{plugin}"\ncheck = "{check}"\nreason = "{reason}"\n'
        + (f"expires = {expires}\n" if expires else "")
        + "\n"
    )


def parse(text: str) -> Baseline:
    return parse_baseline(text, Path("b.toml"), TODAY, CHECKS)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[[accepted]\n", "not valid TOML"),
        ("accepted = 3\n", "array of tables"),
        ("[accepted]\nplugin = 'x'\n", "array of tables"),
        ("title = 'x'\n", "unknown top-level key 'title'"),
        ('[[accepted]]\nplugin = "p"\ncheck = "load.dlopen"\n', "`reason` must be a non-empty string"),
        ('[[accepted]]\nplugin = "p"\ncheck = "load.dlopen"\nreason = "  "\n', "`reason` must be a non-empty string"),
        ('[[accepted]]\ncheck = "load.dlopen"\nreason = "r"\n', 'use plugin = "*"'),
        ('[[accepted]]\nplugin = "p"\ncheck = "load.dlopen"\nreason = "r"\nowner = "me"\n', "unknown key 'owner'"),
        ('[[accepted]]\nplugin = "p"\ncheck = "load.nope"\nreason = "r"\n', "unknown check 'load.nope'"),
        (entry("load.dlopen", expires='"2027-01-31"'), "must be a TOML date"),
        (entry("load.dlopen", expires="2027-01-31T10:00:00"), "must be a TOML date"),
        (entry("load.dlopen") + entry("load.dlopen"), "entry #2 (plugin 'panicking', check 'load.dlopen') repeats"),
    ],
)
def test_every_mistake_is_one_line_naming_the_file(text: str, complaint: str) -> None:
    with pytest.raises(BaselineError) as caught:
        parse(text)
    message = str(caught.value)
    assert complaint in message and message.startswith("baseline b.toml") and "\n" not in message


def test_unreadable_files_are_one_line(tmp_path: Path) -> None:
    for path, complaint in ((tmp_path / "missing.toml", "no such file"), (tmp_path, "is a directory")):
        with pytest.raises(BaselineError, match=complaint):
            load_baseline(path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BaselineError, match="not UTF-8"):
        load_baseline(binary)


def test_load_checks_ids_against_the_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(entry("wire-in.binary.plain[v7]") + entry("load.dlopen", plugin="*", expires="2027-01-31"))
    baseline = load_baseline(path, TODAY)
    assert [e.check for e in baseline.entries] == ["wire-in.binary.plain[v7]", "load.dlopen"]
    assert baseline.entries[1].expires == dt.date(2027, 1, 31)
    path.write_text(entry("wire-in.text.asci"))
    with pytest.raises(BaselineError, match="unknown check 'wire-in.text.asci'"):
        load_baseline(path)


def test_classification() -> None:
    baseline = parse(
        entry("wire-in.text.ascii")
        + entry("wire-in.binary.plain", plugin="pan*")
        + entry("load.dlopen", expires="2026-05-31")
    )
    classify = baseline.classify
    assert classify("panicking", "wire-in.text.ascii", Status.CRASH, Severity.REQUIRED) == "known"
    assert classify("panicking", "wire-in.text.ascii", Status.WARN, Severity.RECOMMENDED) == "known"
    assert classify("panicking", "wire-in.text.ascii", Status.PASS, Severity.REQUIRED) == "improved"
    assert classify("panicking", "wire-in.text.ascii", Status.SKIP, Severity.REQUIRED) is None
    assert classify("other", "wire-in.text.ascii", Status.FAIL, Severity.REQUIRED) == "new"
    assert classify("other", "wire-in.text.ascii", Status.FAIL, Severity.RECOMMENDED) is None
    assert classify("other", "wire-in.text.ascii", Status.WARN, Severity.REQUIRED) is None
    # a bare check id covers the check at every host version; the glob covers every matching plugin
    assert classify("panicky", "wire-in.binary.plain[v7]", Status.FAIL, Severity.REQUIRED) == "known"
    # an expired entry accepts nothing, but still notices the check passing again
    assert classify("panicking", "load.dlopen", Status.FAIL, Severity.REQUIRED) == "new"
    assert classify("panicking", "load.dlopen", Status.PASS, Severity.REQUIRED) == "improved"
    assert [e.check for e in baseline.expired_entries(["panicking"])] == ["load.dlopen"]
    assert baseline.expired_entries(["someone_else"]) == []
    assert [e.check for e in baseline.unmatched_entries("panicking", ["wire-in.text.ascii"])] == [
        "wire-in.binary.plain",
        "load.dlopen",
    ]


def test_expiry_date_is_the_last_valid_day() -> None:
    baseline = parse(entry("load.dlopen", expires=TODAY.isoformat()))
    assert baseline.classify("panicking", "load.dlopen", Status.FAIL, Severity.REQUIRED) == "known"
    assert baseline.expired_entries(["panicking"]) == []


def run(tmp_path: Path, plugin: Path, baseline_text: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--report-dir={tmp_path / 'r'}",
        f"--plugin={plugin}",
        *args,
    ]
    if baseline_text is not None:
        path = tmp_path / "baseline.toml"
        path.write_text(baseline_text)
        command.append(f"--baseline={path}")
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)


def report_of(tmp_path: Path, label: str = "panicking") -> dict[str, Any]:
    report: dict[str, Any] = json.loads((tmp_path / "r" / label / "report.json").read_text())
    assert schema_errors(report) == []
    return report


def test_known_new_and_improved_in_a_real_run(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    text = (
        entry("wire-in.text.ascii", reason="panic guard lands in 2.4")
        + entry("wire-in.text.utf8")
        + entry("load.dlopen")
    )
    done = run(tmp_path, fixture_so("panicking"), text, "-k", "wire-in.text or load.dlopen")
    assert done.returncode == 1, done.stdout[-2000:]  # three text checks fail and are not accepted
    assert "2 known" in done.stdout and "1 improved" in done.stdout and "3 failed" in done.stdout
    assert "FAILED panicking::wire-in.text.ascii" not in done.stdout
    report = report_of(tmp_path)
    by_id = {check["id"]: check["baseline"] for check in report["checks"]}
    assert by_id["wire-in.text.ascii"] == by_id["wire-in.text.utf8"] == "known"
    assert by_id["load.dlopen"] == "improved"
    assert by_id["wire-in.text.empty"] == "new"
    assert by_id["wire-in.text.invalid-utf8"] is None
    section = report["baseline"]
    assert section["outcome"] == "fail" and section["known"] == ["wire-in.text.ascii", "wire-in.text.utf8"]
    assert section["new"] == ["wire-in.text.empty", "wire-in.text.interior-nul", "wire-in.text.long"]
    assert section["improved"] == ["load.dlopen"] and section["expired"] == []
    assert report["verdict"] == "fail"  # the plugin's verdict is a fact; the baseline only changes what fails CI
    assert "known" in (tmp_path / "r" / "summary.md").read_text()


def test_everything_accepted_passes_with_K_letters(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    text = "".join(entry(check) for check in TEXT_FAILURES)
    done = run(tmp_path, fixture_so("panicking"), text, "-k", "wire-in.text")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "KKKKK" in done.stdout.replace(".", "") and "5 known" in done.stdout
    assert report_of(tmp_path)["baseline"]["outcome"] == "pass"


def test_expired_entry_fails_the_run_with_one_line(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    text = "".join(entry(check) for check in TEXT_FAILURES[1:]) + entry(TEXT_FAILURES[0], expires="2020-01-31")
    done = run(tmp_path, fixture_so("panicking"), text, "-k", "wire-in.text")
    assert done.returncode == 1
    lines = [line for line in done.stdout.splitlines() if "expired on 2020-01-31" in line]
    assert lines == [
        f"conformance: baseline {tmp_path / 'baseline.toml'}: entry #5 (plugin 'panicking', check "
        "'wire-in.text.ascii') expired on 2020-01-31: fix the check or renew the entry with a new date and reason"
    ]
    section = report_of(tmp_path)["baseline"]
    assert section["outcome"] == "fail" and section["new"] == ["wire-in.text.ascii"]
    assert section["expired"] == [
        {"plugin": "panicking", "check": "wire-in.text.ascii", "reason": "accepted for now", "expires": "2020-01-31"}
    ]


def test_expired_entry_fails_even_when_every_item_passes(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    done = run(
        tmp_path,
        fixture_so("conforming_processor"),
        entry("load.dlopen", "*", expires="2020-01-31"),
        "-k",
        "load.dlopen",
    )
    assert done.returncode == 1 and "1 improved" in done.stdout
    assert "conformance baseline" in done.stdout and "expired on 2020-01-31" in done.stdout


def test_bad_baseline_is_a_usage_error_without_traceback(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    done = run(tmp_path, fixture_so("panicking"), '[[accepted]]\nplugin = "x"\ncheck = "load.dlopen"\n')
    assert done.returncode == 4
    output = (done.stdout + done.stderr).strip().splitlines()
    assert output == [
        f"ERROR: baseline {tmp_path / 'baseline.toml'}: [[accepted]] entry #1: `reason` must be a non-empty string"
    ]


def test_cli_check_takes_a_baseline(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    path = tmp_path / "baseline.toml"
    path.write_text("".join(entry(check) for check in TEXT_FAILURES))
    command = [
        sys.executable,
        "-m",
        "conformance.cli",
        "check",
        str(fixture_so("panicking")),
        f"--report-dir={tmp_path / 'r'}",
        f"--baseline={path}",
        "-k",
        "wire-in.text",
    ]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:]
    assert report_of(tmp_path)["baseline"]["known"] == list(TEXT_FAILURES)
    path.write_text("[[accepted]]\nplugin = 1\n")
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"conformance: baseline {path}: [[accepted]] entry #1: `plugin` must be a non-empty string "
        '(use plugin = "*" for every plugin)'
    ]
