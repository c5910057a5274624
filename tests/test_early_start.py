"""A plugin's items start as soon as it is probed, when nothing on the command line can deselect them;
what a conftest deselects all the same is forgotten, so the results are those of the selected items alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.pytest_face.execution import DESELECTING_OPTIONS, selects_whole_battery

#: Keeps two checks of the battery, as a project's conftest might. ``wire-out.decodes`` owns a rule that
#: ``wire-in.binary.empty[v9]`` sees broken on ``c_null_empty_binary``: deselected, it must not count.
DESELECTING_CONFTEST = """
import pytest

KEEP = ("wire-out.decodes", "wire-out.runtime-types")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    kept = [item for item in items if item.name in KEEP]
    config.hook.pytest_deselected(items=[item for item in items if item.name not in KEEP])
    items[:] = kept
"""


class CommandLine:
    def __init__(self, source: pytest.Config.ArgsSource, **options: Any) -> None:
        self.args_source = source
        self.options = options

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


def test_only_a_command_line_that_keeps_every_item_starts_items_early() -> None:
    testpaths = pytest.Config.ArgsSource.TESTPATHS
    assert selects_whole_battery(CommandLine(testpaths))
    assert selects_whole_battery(CommandLine(pytest.Config.ArgsSource.INVOCATION_DIR, keyword="", markexpr=""))
    assert not selects_whole_battery(CommandLine(pytest.Config.ArgsSource.ARGS))
    for option in DESELECTING_OPTIONS:
        assert not selects_whole_battery(CommandLine(testpaths, **{option: ["x"] if option == "deselect" else "x"}))


def test_items_a_conftest_deselects_count_for_nothing(
    run_battery: Callable[..., Any], fixture_so: Callable[[str], Path], tmp_path: Path
) -> None:
    plugin = fixture_so("c_null_empty_binary")
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text(DESELECTING_CONFTEST)
    early = run_battery(plugin, cwd=project)
    assert "deselected" in early.stdout, early.stdout[-2000:]
    early_checks = early.checks("c_null_empty_binary")
    assert set(early_checks) == {"wire-out.decodes", "wire-out.runtime-types"}
    assert "seen during wire-in.binary.empty" not in early_checks["wire-out.decodes"]["message"]

    # The same two checks selected with -k (items then wait for the selection) judge the same.
    waited = run_battery(plugin, args=("-k", "wire-out.decodes or wire-out.runtime-types"))
    waited_checks = waited.checks("c_null_empty_binary")
    assert set(waited_checks) == set(early_checks)
    for check_id, entry in early_checks.items():
        assert (entry["status"], entry["message"]) == (waited_checks[check_id]["status"],
                                                      waited_checks[check_id]["message"]), check_id
