"""The battery as pytest nodes: a collector per plugin, an item per check (per host version where that matters)."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

import pytest

from conformance.battery.runner import BatteryItem, battery_for, probe
from conformance.checks.model import Check, Severity, Status
from conformance.checks.result import CheckResult
from conformance.pytest_face.execution import ItemRunner
from conformance.pytest_face.reporting import PROPERTY, item_payload
from conformance.report.baseline import Baseline
from conformance.report.text import failure_text
from conformance.settings import plugin_label


class PluginBattery(pytest.Collector):
    """The battery for one plugin, as the probe of the plugin decides it."""

    def __init__(self, *, plugin_path: Path, runner: ItemRunner, baseline: Baseline | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plugin_path = plugin_path
        self.runner = runner
        self.baseline = baseline

    @cached_property
    def relative_path(self) -> str:
        """The plugin's path as pytest shows an item's (``Item.location``), worked out once for its items."""
        return self.session._node_location_to_relpath(Path(os.path.abspath(self.plugin_path)))

    def collect(self) -> list[pytest.Item]:
        facts = probe(self.plugin_path, self.runner.settings.budget_scale)
        marks: dict[tuple[str, Severity], tuple[pytest.MarkDecorator, ...]] = {}
        return [
            CheckItem.from_parent(
                self,
                name=item.name,
                battery_item=item,
                plugin_path=self.plugin_path,
                runner=self.runner,
                baseline=self.baseline,
                marks=_marks_of(item.check, marks),
            )
            for item in battery_for(facts)
        ]


def _marks_of(
    check: Check, made: dict[tuple[str, Severity], tuple[pytest.MarkDecorator, ...]]
) -> tuple[pytest.MarkDecorator, ...]:
    """The item's marks, made once per category and severity: 165 items share about 20 pairs."""
    key = (check.category, check.severity)
    if key not in made:
        made[key] = (
            pytest.mark.conformance(check.category, check.severity.value),
            getattr(pytest.mark, check.category.replace("-", "_")),
            getattr(pytest.mark, check.severity.value),
        )
    return made[key]


def skip_item(message: str) -> NoReturn:
    """Skip the running item: every skip report of the battery names this line (``protocol.skip_longrepr``)."""
    pytest.skip(message)


class CheckFailed(Exception):
    """A required check did not pass; the judgement is the message, the evidence follows."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result)
        self.result = result


class CheckItem(pytest.Item):
    def __init__(
        self,
        *,
        battery_item: BatteryItem,
        plugin_path: Path,
        runner: ItemRunner,
        baseline: Baseline | None,
        marks: tuple[pytest.MarkDecorator, ...],
        **kwargs: Any,
    ) -> None:
        """``marks``: conformance(category, severity), then the category's and the severity's own marker."""
        super().__init__(**kwargs)
        self.battery_item = battery_item
        self.plugin_path = plugin_path
        self.runner = runner
        self.baseline = baseline
        for mark in marks:
            self.add_marker(mark)
        #: The marks the battery gave the item; one added later (a conftest's skip or xfail) takes pytest's protocol.
        self.battery_marks = len(self.own_markers)

    def run_check(self) -> tuple[CheckResult, bool]:
        """Run the check and attach its payload: the result, and whether it fails the item.

        Shared by ``runtest`` (pytest's own protocol) and ``protocol.run_battery_item``.
        """
        facts, result = self.runner.run(self.plugin_path, self.battery_item)
        classification = (
            self.baseline.classify(plugin_label(self.plugin_path), result.id, result.status, result.severity)
            if self.baseline is not None
            else None
        )
        self.user_properties.append((PROPERTY, item_payload(self.plugin_path, facts, result, classification)))
        return result, result.blocking and classification != "known"

    def runtest(self) -> None:
        result, fails = self.run_check()
        if result.status is Status.SKIP:
            skip_item(result.message)
        if fails:
            raise CheckFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return failure_text(excinfo.value.result)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.plugin_path, None, f"{self.battery_item.name} [{self.battery_item.check.severity.value}]"

    @cached_property
    def location(self) -> tuple[str, int | None, str]:
        """``Item.location`` from ``reportinfo``, with the path made relative once per plugin, not per item."""
        assert isinstance(self.parent, PluginBattery)
        _, line, domain = self.reportinfo()
        return self.parent.relative_path, line, domain
