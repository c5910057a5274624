"""--shard I/N and conformance merge: a run split over CI runners gives the verdict of one run."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CORPUS_SHARDS, GATE, BatteryRun, GateRun

from conformance.corpus import actual_statuses
from conformance.report.merge import MergeError, merge_runs
from conformance.scaleout.shard import Shard, ShardError, assign
from conformance.settings import plugin_label

CONFORMANCE = [sys.executable, "-m", "conformance.cli"]
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Defective and conforming, Rust and C, processor and source, one that crashes.
SHARDED_FIXTURES = (
    "conforming_processor",
    "conforming_source",
    "conforming_c",
    "panicking",
    "leaky",
    "meta_null",
    "v8_strict_len",
)


def plugins(*names: str) -> list[Path]:
    return [Path(f"/plugins/lib{name}.so") for name in names]


def test_every_plugin_lands_in_exactly_one_shard_the_same_way_each_time() -> None:
    given = plugins(*(f"p{index:02}" for index in range(17)))
    for count in (1, 2, 3, 5, 17):
        shards = assign(given, count, plugin_label, {})
        assert sorted(path for shard in shards for path in shard) == sorted(given)
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
        # Each runner computes its own shard from the same list, in any order.
        picked = [Shard(index, count).pick(list(reversed(given)), plugin_label) for index in range(1, count + 1)]
        assert [sorted(shard) for shard in picked] == [sorted(shard) for shard in shards]


def test_durations_put_the_slow_plugins_apart() -> None:
    given = plugins("slow_a", "slow_b", "f1", "f2", "f3", "f4")
    durations = {"slow_a": 60.0, "slow_b": 50.0, "f1": 1.0, "f2": 1.0, "f3": 1.0, "f4": 1.0}
    shards = assign(given, 2, plugin_label, durations)
    loads = [sum(durations[plugin_label(path)] for path in shard) for shard in shards]
    assert {plugin_label(shard[0]) for shard in shards} == {"slow_a", "slow_b"}
    assert max(loads) <= 62.0
    # A plugin the earlier run did not see counts as the mean, and still lands somewhere once.
    with_new = assign([*given, *plugins("new")], 2, plugin_label, durations)
    assert sum(map(len, with_new)) == 7


@pytest.mark.parametrize("text", ["0/3", "4/3", "2", "a/b", "1/0", ""])
def test_a_bad_shard_is_one_line(text: str) -> None:
    with pytest.raises(ShardError, match="shard"):
        Shard.parse(text)


def test_pytest_plugin_runs_only_its_shard(
    fixture_so: Callable[[str], Path], run_battery: Callable[..., BatteryRun]
) -> None:
    given = [fixture_so("conforming_processor"), fixture_so("panicking"), fixture_so("leaky")]
    expected = {plugin_label(path) for path in Shard(2, 3).pick(given, plugin_label)}
    run = run_battery(*given, args=("--shard", "2/3", "-k", "load.dlopen"))
    written = {path.parent.name for path in run.report_dir.glob("*/report.json")}
    assert written == expected and len(written) == 1, run.stdout + run.stderr


def _check(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CONFORMANCE, "check", *args], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )


def test_check_says_which_shard_it_ran(fixture_so: Callable[[str], Path], tmp_path: Path) -> None:
    given = [str(fixture_so(name)) for name in ("conforming_processor", "conforming_source", "conforming_c")]
    done = _check(tmp_path, *given, "--shard", "3/3", "-k", "load.dlopen")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "shard 3/3: 1 of 3 plugins (dealt by name)" in done.stderr
    assert len(list((tmp_path / "reports").glob("*/report.json"))) == 1


def test_more_shards_than_plugins_is_a_usage_error(fixture_so: Callable[[str], Path], tmp_path: Path) -> None:
    done = _check(tmp_path, str(fixture_so("conforming_processor")), "--shard", "2/2")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "shard 2/2 holds no plugin" in done.stderr and "Traceback" not in done.stderr


def _fake_report(directory: Path, label: str, run_id: str, verdict: str = "pass") -> None:
    (directory / label).mkdir(parents=True)
    report = {
        "tool": {"name": "streamkit-conformance", "version": "0"},
        "complete": True,
        "verdict": verdict,
        "plugin": {"name": label, "loadable": True, "api_version": 9},
        "run": {"id": run_id},
        "grade": "A",
        "generated_at": "2026-12-03T00:00:00+00:00",
        "counts": {"pass": 0},
        "host_matrix": [],
        "baseline": None,
        "root_cause": None,
        "checks": [],
    }
    (directory / label / "report.json").write_text(json.dumps(report))


def test_merge_refuses_a_plugin_in_two_shards_and_a_used_output(tmp_path: Path) -> None:
    _fake_report(tmp_path / "a", "one", "run-a")
    _fake_report(tmp_path / "b", "one", "run-b")
    with pytest.raises(MergeError, match="checked in both"):
        merge_runs([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "leftover.txt").write_text("x")
    with pytest.raises(MergeError, match="not empty"):
        merge_runs([tmp_path / "a"], tmp_path / "used")
    with pytest.raises(MergeError, match="no report"):
        merge_runs([tmp_path / "used"], tmp_path / "out2")


def test_a_shard_whose_gate_did_not_finish_fails_the_merged_gate(tmp_path: Path) -> None:
    _fake_report(tmp_path / "a", "one", "run-a")
    gate = {"verdict": "pass", "fixtures": ["one"], "extra_plugins": [], "problems": [], "notes": []}
    (tmp_path / "a" / "gate.json").write_text(json.dumps(gate))
    _fake_report(tmp_path / "b", "two", "run-b")
    merged = merge_runs([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    assert merged.gate is not None and merged.failed
    assert any("did not finish" in problem for problem in merged.gate.problems)
    assert json.loads((tmp_path / "out" / "gate.json").read_text())["verdict"] == "fail"


def _gate(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GATE), "--no-build", f"--fixtures={','.join(SHARDED_FIXTURES)}", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _matrix(report_dir: Path, names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    return {name: actual_statuses(json.loads((report_dir / name / "report.json").read_text())) for name in names}


@pytest.mark.slow
def test_gate_in_shards_merges_to_the_unsharded_verdict_and_matrix(corpus_gate_run: GateRun, tmp_path: Path) -> None:
    """The session's corpus gate ran in shards, as CI runners would, then merged (conftest.CorpusGate);
    an unsharded run over a few fixtures must give the same verdict and matrix for them (a plugin's
    results do not depend on the others)."""
    unsharded_dir = tmp_path / "unsharded"
    done = _gate(tmp_path, f"--report-dir={unsharded_dir}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    merged_dir = corpus_gate_run.report_dir
    assert corpus_gate_run.returncode == 0, corpus_gate_run.stdout + corpus_gate_run.stderr
    gate = json.loads((merged_dir / "gate.json").read_text())
    unsharded = json.loads((unsharded_dir / "gate.json").read_text())
    assert gate["verdict"] == unsharded["verdict"] == "pass"
    assert set(SHARDED_FIXTURES) <= set(gate["fixtures"]) and unsharded["fixtures"] == sorted(SHARDED_FIXTURES)

    def statuses(report_dir: Path) -> dict[str, dict[str, str]]:
        return {
            name: {item: status for item, (status, _) in rows.items()}
            for name, rows in _matrix(report_dir, SHARDED_FIXTURES).items()
        }

    assert statuses(merged_dir) == statuses(unsharded_dir)
    suites = ElementTree.parse(merged_dir / "junit.xml").getroot()
    cases = sum(1 for _ in suites.iter("testcase"))
    everything = _matrix(merged_dir, tuple(gate["fixtures"]))
    assert int(suites.get("tests", "0")) == cases == sum(len(rows) for rows in everything.values())
    summary = (merged_dir / "summary.md").read_text()
    assert "SDK release gate" in summary and f"Merged from {CORPUS_SHARDS} shard directories" in summary
    assert all(name in (merged_dir / "index.html").read_text() for name in gate["fixtures"])


def _gate_shard(directory: Path, label: str, shard: str) -> None:
    _fake_report(directory, label, f"run-{label}")
    verdict = {"verdict": "pass", "fixtures": [label], "extra_plugins": [], "problems": [], "notes": [], "shard": shard}
    (directory / "gate.json").write_text(json.dumps(verdict))


def test_a_shard_missing_from_the_split_fails_the_merged_gate(tmp_path: Path) -> None:
    _gate_shard(tmp_path / "s1", "one", "1/3")
    _gate_shard(tmp_path / "s3", "three", "3/3")
    merged = merge_runs([tmp_path / "s1", tmp_path / "s3"], tmp_path / "out")
    assert merged.gate is not None and merged.gate.problems == [
        "shard 2/3 is missing: its job left no report directory"
    ]
    _gate_shard(tmp_path / "s2", "two", "2/3")
    complete = merge_runs([tmp_path / "s1", tmp_path / "s2", tmp_path / "s3"], tmp_path / "out2")
    assert complete.gate is not None and not complete.failed and complete.gate.fixtures == ["one", "three", "two"]


def _yaml(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO_ROOT / "ci" / name).read_text())
    return data


def test_the_gitlab_recipe_shards_on_parallel_runners_and_merges_whatever_happened() -> None:
    pipeline = _yaml("gitlab-ci.yml")
    shards, merge = pipeline["sdk-release-gate"], pipeline["sdk-release-gate-merge"]
    assert shards["parallel"] >= 2
    assert any('--shard "$CI_NODE_INDEX/$CI_NODE_TOTAL"' in line for line in shards["script"])
    assert pipeline["stages"].index(shards["stage"]) < pipeline["stages"].index(merge["stage"])
    assert merge["needs"] == ["sdk-release-gate"]
    assert any(line.startswith("conformance merge reports/shard-* ") for line in merge["script"])
    assert all(rule["when"] == "always" for rule in merge["rules"])
    for name, job in pipeline.items():
        assert not (isinstance(job, dict) and "rules" in job and "when" in job), f"{name}: GitLab refuses when+rules"


def test_the_github_recipe_has_one_job_per_shard_and_a_merge_that_always_runs() -> None:
    workflow = _yaml("github-release-gate.yml")
    gate, merge = workflow["jobs"]["gate"], workflow["jobs"]["merge"]
    assert gate["strategy"]["matrix"]["shard"] == list(range(1, int(workflow["env"]["SHARDS"]) + 1))
    assert any('--shard "${{ matrix.shard }}/$SHARDS"' in step.get("run", "") for step in gate["steps"])
    assert merge["needs"] == "gate" and merge["if"] == "always()"
    assert any(
        "conformance merge shards/reports-shard-* --out merged" in step.get("run", "") for step in merge["steps"]
    )
