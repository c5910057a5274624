"""`conformance check` is never green unless a whole run happened (issue 16).

Every test runs the installed console script (or pytest) in a subprocess from
an empty directory outside the repository, as a plugin author would, and
asserts the exit status and what was printed. Selections (-k) keep each run to
a few checks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CONFORMANCE = str(Path(sys.executable).parent / "conformance")
FixtureSo = Callable[[str], Path]


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, shell: bool = False
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_") and k != "NO_COLOR"}
    environ.update(env or {})
    command: list[str] | str = " ".join(args) if shell else [CONFORMANCE, *args]
    return subprocess.run(
        command,
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        shell=shell,
        executable="/bin/bash" if shell else None,
    )


def report(directory: Path, label: str) -> dict[str, Any]:
    return dict(json.loads((directory / label / "report.json").read_text()))


# --- 1. a selection that matches nothing is a usage error, not a pass ---


def test_no_check_selected_is_a_usage_error_and_the_report_says_so(fixture_so: FixtureSo, tmp_path: Path) -> None:
    done = run("check", str(fixture_so("panicking")), "-k", "nomatchzzz", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("conformance: no check selected: -k 'nomatchzzz' matches none of the")
    assert "PASS" not in done.stdout + done.stderr
    data = report(tmp_path / "reports", "panicking")
    assert data["verdict"] == "none" and data["grade"] == "-"
    assert data["run"]["items_selected"] == 0


@pytest.mark.slow  # scale-out: two xdist workers start for it
def test_no_check_selected_under_xdist_is_a_usage_error_too(fixture_so: FixtureSo, tmp_path: Path) -> None:
    done = run("check", str(fixture_so("conforming_processor")), "-j", "2", "-k", "nomatchzzz", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith("conformance: no check selected: -k 'nomatchzzz' matches")
    assert report(tmp_path / "reports", "conforming_processor")["verdict"] == "none"


def test_an_interrupted_report_never_reads_as_a_pass() -> None:
    from conformance.report.terminal import headline

    report = {
        "plugin": {"name": "x", "api_version": 9, "node_kind": "processor", "kind": "x", "loadable": True},
        "verdict": "pass",
        "grade": "A",
        "complete": False,
        "run": {"items_selected": 165, "items_finished": 12},
        "checks": [],
    }
    line = headline(report)
    assert line.startswith("x: INCOMPLETE (interrupted after 12 of 165 checks; no verdict")
    assert "PASS" not in line


@pytest.mark.parametrize("dist", [[], ["--dist", "worksteal"]], ids=["alone", "dist-without-workers"])
def test_pytest_with_no_check_selected_is_a_usage_error(fixture_so: FixtureSo, tmp_path: Path, dist: list[str]) -> None:
    """``--dist`` without ``-n`` distributes nothing (xdist starts no worker): still a usage error, never a pass."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--plugin",
            str(fixture_so("panicking")),
            "-k",
            "zzz",
            *dist,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "no check selected" in done.stderr
    assert report(tmp_path / "reports", "panicking")["verdict"] == "none"


# --- 2. Ctrl-C: INCOMPLETE and exit 130, never PASS ---


@pytest.mark.slow
def test_ctrl_c_says_incomplete_and_exits_130(fixture_so: FixtureSo, tmp_path: Path) -> None:
    # A wedging plugin with a large budget scale keeps the battery busy long enough to be interrupted.
    process = subprocess.Popen(
        [CONFORMANCE, "check", str(fixture_so("wedging")), "--budget-scale", "4"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A job started in the background inherits SIGINT ignored; a terminal's Ctrl-C is not ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stderr is not None
    for line in process.stderr:  # progress lines: wait until the battery runs
        if "checks," in line and re.search(r"wedging: \d+/\d+", line) and not line.startswith("wedging: 1/"):
            break
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 130, out
    assert "wedging: INCOMPLETE (interrupted after" in out
    assert "PASS" not in out
    assert report(tmp_path / "reports", "wedging")["complete"] is False


# --- 3. a closed pipe keeps the real exit status ---


def test_broken_pipe_keeps_the_failing_status(fixture_so: FixtureSo, tmp_path: Path) -> None:
    plugins = f"{fixture_so('panicking')} {fixture_so('v8_strict_len')}"
    done = run(
        f"set -o pipefail; {CONFORMANCE} check {plugins} -k 'wire-in.text or wire-in.binary-with-meta' | head -1",
        cwd=tmp_path,
        shell=True,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("panicking: FAIL")
    assert "Traceback" not in done.stderr


# --- 4. a usage error never shows an earlier run's summary ---


@pytest.fixture(scope="module")
def earlier_run(fixture_so: FixtureSo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where a passing run happened, run once and copied by each test that runs after it."""
    workdir = tmp_path_factory.mktemp("earlier-run")
    first = run("check", str(fixture_so("conforming_processor")), "-k", "load.dlopen", cwd=workdir)
    assert first.returncode == 0 and "PASS" in first.stdout
    return workdir


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (("--budget-scale=abc",), "budget scale 'abc' from --budget-scale is not a number"),
        (("-j", "abc"), "'abc' is neither a number of workers nor 'auto'"),
        (("-j", "-3"), "the number of workers must be at least 1"),  # 18
        (("--reruns", "x"), "reruns 'x' from --reruns is not a whole number"),
    ],
)
def test_usage_error_after_a_run_prints_only_one_line(
    fixture_so: FixtureSo, tmp_path: Path, earlier_run: Path, options: tuple[str, ...], complaint: str
) -> None:
    workdir = tmp_path / "after-a-run"
    shutil.copytree(earlier_run, workdir, symlinks=True)
    assert (workdir / "reports" / "conforming_processor" / "report.json").exists()
    done = run("check", str(fixture_so("conforming_processor")), *options, cwd=workdir)
    assert done.returncode == 2
    assert done.stdout == ""  # not the previous run's PASS
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert complaint in done.stderr and "usage:" not in done.stderr and "inifile" not in done.stderr


# --- 5. a report directory that cannot be written is refused before any check runs ---


def test_unwritable_report_dir_is_refused_first(fixture_so: FixtureSo, tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory\n")
    started = time.monotonic()
    done = run("check", str(fixture_so("conforming_processor")), "--report-dir", str(blocker), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"conformance: cannot write reports to {blocker}: it is not a directory"
    assert "checks," not in done.stderr  # no progress: the battery never started
    assert time.monotonic() - started < 20
    pytest_run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--plugin", str(fixture_so("conforming_processor")),
         "--report-dir", str(blocker / "sub")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert pytest_run.returncode == pytest.ExitCode.USAGE_ERROR
    assert "cannot write reports to" in pytest_run.stderr


# --- 6. the same settings resolver as pytest: ini file and CONFORMANCE_* ---


def test_check_reads_environment_and_ini_like_pytest(fixture_so: FixtureSo, tmp_path: Path) -> None:
    plugin = str(fixture_so("conforming_processor"))
    bad = run("check", plugin, cwd=tmp_path, env={"CONFORMANCE_BUDGET_SCALE": "abc"})
    assert bad.returncode == 2
    assert "budget scale 'abc' from environment variable CONFORMANCE_BUDGET_SCALE is not a number" in bad.stderr
    from_env = run("check", plugin, "-k", "load.dlopen", cwd=tmp_path, env={"CONFORMANCE_REPORT_DIR": "env-reports"})
    assert from_env.returncode == 0, from_env.stderr
    assert (tmp_path / "env-reports" / "conforming_processor" / "report.json").exists()
    (tmp_path / "pytest.ini").write_text(
        f"[pytest]\nconformance_report_dir = ini-reports\nconformance_plugins =\n    {plugin}\n"
        "conformance_budget_scale = 2\n"
    )
    from_ini = run("check", "-k", "load.dlopen", cwd=tmp_path)  # the plugin comes from the ini file too
    assert from_ini.returncode == 0, from_ini.stderr
    data = report(tmp_path / "ini-reports", "conforming_processor")
    assert data["budgets"]["scale"] == 2.0


# --- 7. --reruns, --race, --memcheck and -m ---


def test_check_accepts_reruns_and_marker_selection(fixture_so: FixtureSo, tmp_path: Path) -> None:
    done = run(
        "check", str(fixture_so("conforming_processor")), "-m", "required and load", "--reruns", "0", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = report(tmp_path / "reports", "conforming_processor")
    ids = {check["id"] for check in data["checks"]}
    assert ids and all(check_id.startswith("load.") for check_id in ids)
    assert data["run"]["markexpr"] == "required and load"


def test_check_race_and_memcheck_are_options(fixture_so: FixtureSo, tmp_path: Path) -> None:
    done = run("check", str(fixture_so("conforming_processor")), "--race=nonsense", cwd=tmp_path)
    assert done.returncode == 2
    if shutil.which("valgrind") is None:
        assert "need valgrind" in done.stderr
    else:
        assert "race tool 'nonsense' from --race must be helgrind or drd" in done.stderr
    help_text = run("check", "--help", cwd=tmp_path).stdout
    assert "--memcheck" in help_text and "--race" in help_text and "--reruns" in help_text


# --- 8. the baseline's classification is shown ---


def test_check_shows_known_new_and_improved(fixture_so: FixtureSo, tmp_path: Path) -> None:
    baseline = tmp_path / "accepted.toml"
    baseline.write_text(
        '[[accepted]]\nplugin = "panicking"\ncheck = "wire-in.text.ascii"\nreason = "panic guard lands later"\n\n'
        '[[accepted]]\nplugin = "panicking"\ncheck = "load.dlopen"\nreason = "was broken once"\n'
    )
    done = run(
        "check", str(fixture_so("panicking")), "-k", "wire-in.text.ascii or wire-in.text.utf8 or load.dlopen",
        "--baseline", str(baseline), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # wire-in.text.utf8 is new
    assert "1 new, 1 known, 1 improved" in done.stdout
    assert "new (not accepted): wire-in.text.utf8" in done.stdout
    assert "known (accepted): wire-in.text.ascii" in done.stdout
    assert "improved (now pass, entry can go): load.dlopen" in done.stdout
    assert "[known/new]" in done.stdout  # the grouped panic covers one known and one new failure


# --- 9. a plugin the host refuses: exit 2, its version, one reason, no battery ---


def test_version_gate_refusal_is_not_loadable_without_a_battery(fixture_so: FixtureSo, tmp_path: Path) -> None:
    done = run("check", str(fixture_so("version5")), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"conformance: {fixture_so('version5')} (declares API v5): not loadable: "
        "Plugin API version mismatch: plugin has v5, host supports v6–v9"
    )
    assert "checks," not in done.stderr
    data = report(tmp_path / "reports", "version5")
    assert data["plugin"]["api_version"] == 5 and data["plugin"]["loadable"] is False
    assert data["checks"] == []


# --- 10. the failure summary: grouped by cause, repro and explain lines, totals ---


def test_failure_summary_groups_one_cause_with_repro_and_explain(fixture_so: FixtureSo, tmp_path: Path) -> None:
    panicking, conforming = fixture_so("panicking"), fixture_so("conforming_processor")
    done = run("check", str(panicking), str(conforming), "-k", "wire-in.text", cwd=tmp_path)
    assert done.returncode == 1
    out = done.stdout
    assert "FAIL     5 checks, one cause: panic: panicking: intentional panic in process_packet" in out
    assert f"reproduce: conformance repro {panicking} wire-in.text.ascii" in out
    assert "explain:   conformance explain wire-in.text.ascii" in out
    assert out.strip().splitlines()[-1] == "total: 2 plugins: 1 fail, 1 pass; 5 required failures, 0 warnings"


def test_long_messages_end_at_a_word_with_an_ellipsis() -> None:
    from conformance.report.terminal import shorten

    text = "word " * 60
    short = shorten(text, 50)
    assert len(short) <= 50 and short.endswith("word\u2026")


def test_no_color_keeps_the_live_line(fixture_so: FixtureSo, tmp_path: Path) -> None:
    import pty

    primary, secondary = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    environ["NO_COLOR"] = "1"
    done = subprocess.run(
        [CONFORMANCE, "check", str(fixture_so("conforming_processor")), "-k", "load.dlopen or load.entry-symbol"],
        cwd=tmp_path, env=environ, stdout=subprocess.PIPE, stderr=secondary, text=True, timeout=300, check=False,
    )  # fmt: skip
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    terminal = b"".join(chunks).decode()
    assert done.returncode == 0
    assert "\r\x1b[2K" in terminal  # the live line is redrawn in place
    assert "\x1b[31m" not in terminal and "\x1b[32m" not in terminal  # but without colour


# --- 14. repro takes the catalogue id of a host-sensitive check ---


def test_repro_accepts_the_catalogue_id_and_runs_every_host(fixture_so: FixtureSo, tmp_path: Path) -> None:
    done = run("repro", str(fixture_so("v8_strict_len")), "wire-in.binary.with-meta", cwd=tmp_path)
    assert "runs at host versions v8, v9" in done.stdout, done.stdout + done.stderr
    assert "wire-in.binary.with-meta[v8]: PASS" in done.stdout
    assert "wire-in.binary.with-meta[v9] [required, wire-in] FAIL" in done.stdout
    assert done.returncode == 1


# --- 15. plugin paths: the same file twice, two files with one name ---


def test_symlink_and_target_run_once_and_same_names_are_both_named(fixture_so: FixtureSo, tmp_path: Path) -> None:
    plugin = fixture_so("conforming_processor")
    alias = tmp_path / "libalias.so"
    alias.symlink_to(plugin)
    once = run("check", str(plugin), str(alias), "-k", "load.dlopen", cwd=tmp_path)
    assert once.returncode == 0, once.stderr
    assert f"{alias} and {plugin} are the same file: checked once, as {plugin}" in once.stderr
    assert not (tmp_path / "reports" / "alias").exists()
    other = tmp_path / "copy" / plugin.name
    other.parent.mkdir()
    other.write_bytes(plugin.read_bytes())
    clash = run("check", str(plugin), str(other), cwd=tmp_path)
    assert clash.returncode == 2
    assert str(plugin) in clash.stderr and str(other) in clash.stderr
    assert "same library name 'conforming_processor'" in clash.stderr


# --- 16. a second run in the same report directory says what it replaces ---


def test_second_run_names_the_reports_it_replaces(fixture_so: FixtureSo, tmp_path: Path, earlier_run: Path) -> None:
    workdir = tmp_path / "after-a-run"
    shutil.copytree(earlier_run, workdir, symlinks=True)  # the first run: conforming_processor's
    second = run("check", str(fixture_so("conforming_source")), "-k", "load.dlopen", cwd=workdir)
    assert second.returncode == 0
    assert "removed the report of conforming_processor from an earlier run in reports" in second.stderr


# --- 19. pytest counts the battery it collected; skip reasons name packet types ---


def test_pytest_reports_the_collected_battery(fixture_so: FixtureSo, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "--plugin", str(fixture_so("v9_binary_only")),
         "-k", "wire-in.text.ascii or load.dlopen"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    collected = re.search(r"collected (\d+) items / (\d+) deselected / 2 selected", done.stdout)
    assert collected is not None and int(collected[1]) == int(collected[2]) + 2 > 100, done.stdout
    assert "collected 0 items" not in done.stdout
    assert "no input pin accepts Text (type 2) packets" in done.stdout
