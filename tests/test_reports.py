"""The reporting layer end to end: report.json against its schema, HTML, Markdown, JUnit, diff, durability.

Every test runs the real battery in a subprocess (``python -m pytest
--plugin=...``) on real fixtures, from an empty directory, and validates every
report.json the run wrote against the committed schema.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import BatteryRun

from conformance.cli import main as cli_main
from conformance.report.diff import compare_reports
from conformance.report.markdown import MAX_ROWS_PER_PLUGIN, render_summary
from conformance.report.rundir import run_id_of
from conformance.report.schema import report_schema, schema_errors

CHROMIUM = next(
    (
        path
        for path in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
        if path and Path(path).exists()
    ),
    None,
)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    report_dir: Path

    def report(self, label: str) -> dict[str, Any]:
        return dict(json.loads((self.report_dir / label / "report.json").read_text()))


def battery(workdir: Path, *plugins: Path, args: tuple[str, ...] = (), report_dir: Path | None = None) -> Run:
    """``python -m pytest --plugin=...`` from ``workdir``; options in ``=`` form, as a CI script would write them."""
    report_dir = report_dir or workdir / "reports"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--report-dir={report_dir}"]
    command += [f"--plugin={plugin}" for plugin in plugins] + list(args)
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600, check=False)
    return Run(done.returncode, done.stdout, done.stderr, report_dir)


def assert_all_reports_valid(report_dir: Path) -> int:
    """Schema-validate every report.json under ``report_dir``; returns how many there were."""
    reports = sorted(report_dir.glob("*/report.json"))
    for path in reports:
        errors = schema_errors(json.loads(path.read_text()))
        assert not errors, f"{path}: {errors[:5]}"
    return len(reports)


def test_schema_is_valid_draft_2020_12_and_ships_in_the_package() -> None:
    jsonschema = importlib.import_module("jsonschema")  # no type stubs
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"]["const"] == "1.1"


def test_every_report_of_the_run_matches_the_schema(three_plugins: BatteryRun) -> None:
    assert assert_all_reports_valid(three_plugins.report_dir) == 3
    report = three_plugins.report("panicking")
    assert report["verdict"] == "fail" and report["grade"] == "F"
    assert report["tool"]["version"] and report["budgets"]["scale"] == 1.0
    assert report["budgets"]["call_budgets_s"]["process_packet"] > 0
    assert report["complete"] is True and report["run"]["interrupted"] is False
    assert report["run"]["items_finished"] == report["run"]["items_selected"] == len(report["checks"])
    assert all(check["duration_s"] >= 0 and "baseline" in check for check in report["checks"])
    failing = [check for check in report["checks"] if check["status"] not in ("pass", "skip")]
    assert failing and all(check["repro"].startswith("conformance repro ") for check in failing)
    assert report["host_matrix"] == [
        {"host_version": 9, "compatible": False, "because": sorted(check["id"] for check in failing)}
    ]


def test_schema_rejects_what_consumers_could_not_read(three_plugins: BatteryRun) -> None:
    report = three_plugins.report("conforming_processor")
    assert schema_errors(report) == []
    broken = json.loads(json.dumps(report))
    del broken["verdict"]
    broken["checks"][0]["status"] = "maybe"
    broken["surprise"] = 1
    errors = schema_errors(broken)
    assert any("verdict" in error for error in errors)
    assert any(error.startswith("checks/0/status") for error in errors)
    assert any("surprise" in error for error in errors)


def test_every_file_of_the_run_carries_the_same_run_id(three_plugins: BatteryRun) -> None:
    reports = three_plugins.report_dir
    run_id = three_plugins.report("panicking")["run"]["id"]
    files = [reports / "summary.md", reports / "index.html"]
    for label in ("panicking", "conforming_processor", "version5"):
        files += [reports / label / "report.json", reports / label / "report.html"]
    assert {path.name: run_id_of(path) for path in files} == {path.name: run_id for path in files}


def test_html_is_self_contained(three_plugins: BatteryRun) -> None:
    for path in [three_plugins.report_dir / "index.html", *three_plugins.report_dir.glob("*/report.html")]:
        text = path.read_text()
        assert "<style>" in text and "<script>" in text
        assert not re.search(r"<(link|img|iframe)\b|<script\s+src|@import|url\(", text), path
        assert set(re.findall(r"https?://[^\s\"'<]+", text)) <= {"http://www.w3.org/2000/svg"}, path


def test_report_html_shows_banner_matrix_categories_and_timing(three_plugins: BatteryRun) -> None:
    text = (three_plugins.report_dir / "panicking" / "report.html").read_text()
    assert 'id="verdict" class="banner fail"' in text and "FAIL" in text
    assert '<tr data-host="9" data-state="incompatible">' in text
    assert '<tr data-host="6" data-state="n/a">' in text
    assert 'id="category-wire-in" data-category="wire-in" open' in text
    assert 'id="category-load" data-category="load">' in text  # nothing failed there: folded
    assert 'id="check-wire-in.text.ascii"' in text and "panicking: intentional panic" in text
    assert "<details><summary>" in text and "<svg" in text and 'class="timing-row"' in text


def test_index_lists_every_plugin_failing_first(three_plugins: BatteryRun) -> None:
    text = (three_plugins.report_dir / "index.html").read_text()
    rows = re.findall(r'<tr data-check="([^"]+)" data-problem="(\d)" data-verdict="(\w+)">', text)
    assert [(label, verdict) for label, _, verdict in rows] == [
        ("panicking", "fail"),
        ("version5", "fail"),
        ("conforming_processor", "pass"),
    ]
    assert 'href="panicking/report.html"' in text and "3 plugins: 1 pass, 2 fail" in text


def test_markdown_summary_has_one_table_per_plugin_failures_first(three_plugins: BatteryRun) -> None:
    text = (three_plugins.report_dir / "summary.md").read_text()
    assert text.startswith("<!-- conformance-run-id: ")
    headings = re.findall(r"^## .*`(\w+)`: (PASS|FAIL)", text, flags=re.M)
    assert headings == [("panicking", "FAIL"), ("version5", "FAIL"), ("conforming_processor", "PASS")]
    panicking = text.split("`panicking`: FAIL", 1)[1].split("\n## ", 1)[0]
    assert panicking.index("| **FAIL** | `wire-in.text.ascii` | required |") < panicking.index("<details>")
    assert "`load.dlopen`" in panicking.split("<details>", 1)[1]  # passes are folded


def test_markdown_caps_rows_and_escapes_table_cells(three_plugins: BatteryRun) -> None:
    report = three_plugins.report("panicking")
    template = next(check for check in report["checks"] if check["status"] == "fail")
    rows = range(MAX_ROWS_PER_PLUGIN + 5)
    report["checks"] = [dict(template, id=f"wire-in.fake-{index}", message="a | b\nc <script>") for index in rows]
    text = render_summary([report], "run-1")
    assert text.count("| **FAIL** |") == MAX_ROWS_PER_PLUGIN
    assert "... 5 more in report.html" in text
    assert "a \\| b c &lt;script>" in text


def test_terminal_names_the_written_files(three_plugins: BatteryRun) -> None:
    assert "conformance: FAIL - report written to" in three_plugins.stdout
    assert "conformance: summary " in three_plugins.stdout and "index.html" in three_plugins.stdout


def test_junit_failures_carry_the_evidence(panic_and_abort: BatteryRun) -> None:
    run = panic_and_abort
    junit = run.report_dir.parent / "junit.xml"
    assert run.returncode == 1
    assert_all_reports_valid(run.report_dir)
    cases = {(case.get("classname"), case.get("name")): case for case in ET.parse(junit).getroot().iter("testcase")}
    assert cases[("panicking", "load.dlopen")].find("failure") is None
    panic = cases[("panicking", "wire-in.text.ascii")].find("failure")
    assert panic is not None
    assert "panic: panicking: intentional panic in process_packet" in (panic.text or "")
    assert "reproduce: conformance repro " in (panic.text or "")
    crash = cases[("ctor_abort", "load.dlopen")].find("failure")
    assert crash is not None and "signal: SIGABRT" in (crash.text or "") and "in_flight" in (crash.text or "")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_failing_report_renders_in_headless_chromium(three_plugins: BatteryRun, tmp_path: Path) -> None:
    def dom(page: Path) -> str:
        command = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    page = dom(three_plugins.report_dir / "panicking" / "report.html")
    assert 'data-js="ready"' in page  # the inline script ran without an error
    banner = re.search(r'<header id="verdict"[^>]*data-verdict="fail".*?</header>', page, flags=re.S)
    assert banner and ">FAIL<" in banner.group(0) and "panicking" in banner.group(0)
    matrix = re.search(r'<section id="matrix">.*?</section>', page, flags=re.S)
    assert matrix and re.search(r'data-host="9" data-state="incompatible">.*?incompatible', matrix.group(0), re.S)
    failing = re.search(r'<section id="failing">.*?</section>', page, flags=re.S)
    assert failing
    expected = {
        check["id"] for check in three_plugins.report("panicking")["checks"] if check["status"] not in ("pass", "skip")
    }
    assert expected and set(re.findall(r'data-check="([^"]+)" data-problem="1"', failing.group(0))) == expected
    index = dom(three_plugins.report_dir / "index.html")
    assert 'data-js="ready"' in index and index.count('href="') >= 3 and "version5" in index


def test_diff_reports_regressions_and_improvements(
    three_plugins: BatteryRun, capsys: pytest.CaptureFixture[str]
) -> None:
    good = three_plugins.report_dir / "conforming_processor" / "report.json"
    bad = three_plugins.report_dir / "panicking" / "report.json"
    assert cli_main(["diff", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("regressions (") and "wire-in.text.ascii [required]: pass -> fail" in out
    assert cli_main(["diff", str(bad), str(good)]) == 0
    out = capsys.readouterr().out
    assert "regressions" not in out and "improvements (" in out and "verdict: fail -> pass" in out
    assert cli_main(["diff", str(good), str(good)]) == 0
    assert "no differences" in capsys.readouterr().out


def test_diff_counts_a_new_failing_check_as_a_regression(three_plugins: BatteryRun) -> None:
    old = three_plugins.report("conforming_processor")
    new = json.loads(json.dumps(old))
    new["checks"].append(dict(new["checks"][0], id="load.brand-new", status="crash", message="boom"))
    old["checks"][1]["status"], new["checks"][1]["status"] = "fail", "crash"  # both failing: a change only
    difference = compare_reports(old, new)
    assert [change.item for change in difference.regressions] == ["load.brand-new"]
    assert [change.item for change in difference.changes] == [old["checks"][1]["id"]]


@pytest.mark.parametrize("content", [None, "", "{not json", '{"checks": []}', '["x"]'])
def test_diff_unreadable_input_is_one_line_and_exit_2(
    three_plugins: BatteryRun, tmp_path: Path, content: str | None
) -> None:
    broken = tmp_path / "broken.json"
    if content is not None:
        broken.write_text(content)
    good = three_plugins.report_dir / "conforming_processor" / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "diff", str(good), str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert str(broken) in done.stderr


def test_rerun_into_the_same_directory_leaves_only_the_new_run(
    tmp_path: Path, fixture_so: Callable[[str], Path], three_plugins: BatteryRun
) -> None:
    # The first run's reports: a copy of the shared run's (panicking, conforming_processor, version5).
    shutil.copytree(three_plugins.report_dir, tmp_path / "reports", symlinks=True)
    assert (tmp_path / "reports" / "index.html").exists()
    first_id = three_plugins.report("panicking")["run"]["id"]
    (tmp_path / "reports" / "notes.txt").write_text("mine")
    (tmp_path / "reports" / "panicking" / "keep.txt").write_text("mine too")
    second = battery(tmp_path, fixture_so("conforming_c"), args=("-k", "load"))
    assert second.returncode == 0, second.stdout[-2000:]
    run_id = second.report("conforming_c")["run"]["id"]
    assert run_id != first_id
    reports = second.report_dir
    assert not (reports / "index.html").exists()
    assert not (reports / "conforming_processor").exists() and not (reports / "version5").exists()
    assert sorted(path.name for path in (reports / "panicking").iterdir()) == ["keep.txt"]
    assert (reports / "notes.txt").read_text() == "mine"
    assert run_id_of(reports / "summary.md") == run_id
    assert "conforming_processor" not in (reports / "summary.md").read_text()
    assert assert_all_reports_valid(reports) == 1


def _wait_for_lines(process: subprocess.Popen[str], pattern: str, count: int, deadline: float) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if sum(pattern in seen for seen in lines) >= count:
            return lines
    raise AssertionError("the run did not get far enough:\n" + "".join(lines[-30:]))


@pytest.mark.slow  # scale-out / interrupt: a whole battery or more in subprocesses
def test_sigterm_mid_run_writes_an_incomplete_report(tmp_path: Path, fixture_so: Callable[[str], Path]) -> None:
    """libwedging's process_packet never returns: at budget scale 4 its item holds the run for ~4 s."""
    report_dir = tmp_path / "reports"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-v",
        "-p",
        "no:cacheprovider",
        f"--report-dir={report_dir}",
        f"--plugin={fixture_so('wedging')}",
        "--budget-scale=4",
    ]
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
    )
    try:
        _wait_for_lines(process, " PASSED", 20, time.monotonic() + 120)
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 2, rest[-2000:]  # pytest's "interrupted"
    assert "received SIGTERM" in rest and "(incomplete) - report written to" in rest
    report = json.loads((report_dir / "wedging" / "report.json").read_text())
    assert report["complete"] is False and report["run"]["interrupted"] is True
    assert 20 <= report["run"]["items_finished"] < report["run"]["items_selected"]
    assert len(report["checks"]) == report["run"]["items_finished"]
    assert assert_all_reports_valid(report_dir) == 1
    html = (report_dir / "wedging" / "report.html").read_text()
    assert "(incomplete run)" in html and "the run was interrupted" in html
    assert "**Incomplete run**" in (report_dir / "summary.md").read_text()
