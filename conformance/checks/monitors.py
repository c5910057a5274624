"""Always-on contract monitors: a violation seen in any scenario is credited to the check that owns its rule.

The host's callbacks record ``Violation`` events in every scenario (late or
concurrent callbacks, packets the host cannot convert, pool and binary handle
misuse, bad log strings). The judge fails a check on the violations it owns
(``Check.owns_violations``) seen in its own scenario; this module closes the
gap where a rule is broken only under another check's input, e.g. two threads
in ``output_callback`` on a 64 KiB text (``wire-in.text.long``), or a NULL data
pointer emitted only for an empty payload (``wire-in.binary.empty``).

How it runs, deterministically, under pytest (see ``pytest_plugin``):

* ``judge`` lists in ``evidence["unowned_violations"]`` the violations a
  scenario saw that its own check does not own (the raw sightings; crediting
  never changes them, so the outcome does not depend on the order items ran).
* ``MonitorLedger`` collects them per plugin from every result. When the item
  of an owning check runs, the ledger first takes the results of every other
  item of that plugin (those already run, and, from the prefetcher, those still
  running ahead: it waits for them), then ``credit`` fails the item with
  "<detail> (during <call>), seen during <item>" as its message and evidence,
  and a repro command for the item where it was seen.
* A pytest item is final once reported: crediting happens before, never after.
  Without the prefetcher (``CONFORMANCE_PREFETCH=0``, or an xdist mode that
  splits a plugin's items between workers) an owning check is credited only
  with what the items run before it saw; the report says how many items it
  consulted (``evidence["monitors"]["items_consulted"]``).

The owning check's own scenario still runs and is judged as before; a
sighting elsewhere fails it too. A check that already failed, crashed or timed
out keeps its status and gains the sightings as evidence. A check skipped as
not applicable (for example a processor-only scenario on a source plugin)
fails when its rule was broken elsewhere: the evidence stands on its own.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from conformance.checks.model import Check, Status
from conformance.checks.result import CheckResult
from conformance.checks.verdict import failure_status

MAX_SIGHTINGS = 20
EVIDENCE_KEY = "unowned_violations"
CREDITED_STATUSES = frozenset({Status.PASS, Status.WARN, Status.SKIP})


def owns(check: Check, rule: str) -> bool:
    return any(rule.startswith(prefix) for prefix in check.owns_violations)


@dataclass(frozen=True)
class Sighting:
    """A violation of ``rule`` seen while battery item ``seen_during`` ran (its check does not own the rule)."""

    rule: str
    detail: str
    during: str | None
    seen_during: str

    def describe(self) -> str:
        during = f" (during {self.during})" if self.during else ""
        return f"{self.detail}{during}, seen during {self.seen_during}"

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "detail": self.detail, "during": self.during, "seen_during": self.seen_during}


def unowned(check: Check, violations: Iterable[tuple[str, str, str | None]]) -> list[dict[str, Any]]:
    """For the judge: the distinct violations a scenario saw that ``check`` does not own (evidence)."""
    seen: dict[tuple[str, str, str | None], None] = {}
    for rule, detail, during in violations:
        if not owns(check, rule):
            seen.setdefault((rule, detail, during), None)
    return [{"rule": r, "detail": d, "during": w} for r, d, w in list(seen)[:MAX_SIGHTINGS]]


def sightings_of(result: CheckResult) -> list[Sighting]:
    raw = result.evidence.get(EVIDENCE_KEY) or []
    return [Sighting(str(v["rule"]), str(v["detail"]), v.get("during"), result.id) for v in raw]


def credit(
    check: Check, result: CheckResult, sightings: Iterable[Sighting], plugin: str, consulted: int
) -> CheckResult:
    """``result`` of ``check`` with the sightings of its rules from other items applied."""
    if not check.owns_violations:
        return result
    mine = [s for s in sightings if s.seen_during != result.id and owns(check, s.rule)]
    if not mine:
        if consulted:
            return replace(result, evidence={**result.evidence, "monitors": {"items_consulted": consulted}})
        return result
    evidence = {
        **result.evidence,
        "seen_elsewhere": [s.to_json() for s in mine[:MAX_SIGHTINGS]],
        "monitors": {"items_consulted": consulted},
    }
    if result.status not in CREDITED_STATUSES:
        return replace(result, evidence=evidence)
    texts = list(dict.fromkeys(s.describe() for s in mine))
    message = "; ".join(texts[:5]) + (f"; and {len(texts) - 5} more" if len(texts) > 5 else "")
    if result.status is Status.WARN:
        message = f"{message}; {result.message}"
    return replace(
        result,
        status=failure_status(check.severity),
        message=message,
        evidence=evidence,
        repro=f"conformance repro {shlex.quote(plugin)} {shlex.quote(mine[0].seen_during)}",
    )


class MonitorLedger:
    """Per plugin, the sightings of every item whose result is known (thread-safe, idempotent per item)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_plugin: dict[str, dict[str, list[Sighting]]] = {}

    def record(self, plugin: str, result: CheckResult) -> None:
        with self._lock:
            self._by_plugin.setdefault(plugin, {})[result.id] = sightings_of(result)

    def sightings(self, plugin: str) -> tuple[list[Sighting], int]:
        """(every sighting recorded for ``plugin``, in item order of arrival; how many items were consulted)."""
        with self._lock:
            items = self._by_plugin.get(plugin, {})
            return [s for found in items.values() for s in found], len(items)

    def credit(self, plugin: str, check: Check, result: CheckResult) -> CheckResult:
        found, consulted = self.sightings(plugin)
        # Stable order whatever order the items finished in: by item name, then as recorded.
        found.sort(key=lambda s: s.seen_during)
        return credit(check, result, found, plugin, consulted)
