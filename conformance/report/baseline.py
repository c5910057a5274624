"""Baselines: failures a team has accepted, so CI fails only on new ones.

A plugin rarely goes from "fails twelve checks" to "passes everything" in one
change. A baseline file lists the failures that are known and accepted, each
with a reason and optionally an expiry date, so that a CI job can be strict
about everything else from day one::

    [[accepted]]
    plugin = "my_plugin"            # plugin label (library name without lib/.so), or a glob such as "*"
    check = "panics.process-packet" # battery item id; a check id without [vN] covers every host version
    reason = "panic guard lands in 2.4 (TICKET-12)"
    expires = 2027-01-31            # optional TOML date; after it the entry fails the run

Each battery result is classified against the baseline:

* ``known``: the check did not pass and an unexpired entry accepts it (the
  pytest item passes, shown as ``K``/``KNOWN``);
* ``new``: a required check failed and no entry accepts it (fails the run);
* ``improved``: an entry accepts it but the check now passes (time to delete
  the entry);
* ``None``: nothing to say (passed without an entry, skipped, or a
  non-required check that did not pass without an entry).

The rule itself is the judgement layer's (``checks.verdict.baseline_class``);
this module reads, validates and matches the file.

An expired entry accepts nothing and fails the run on its own, so that
"temporarily accepted" cannot quietly become "accepted forever". Every
problem with the file is one line (``BaselineError``) naming the file and the
entry, because a baseline is edited by hand.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.checks.model import Severity, Status
from conformance.checks.registry import checks_by_id
from conformance.checks.verdict import Classification, baseline_class

_ENTRY_KEYS = frozenset({"plugin", "check", "reason", "expires"})


class BaselineError(Exception):
    """The baseline file cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class Accepted:
    """One ``[[accepted]]`` entry; ``number`` is its 1-based position in the file, for messages."""

    plugin: str
    check: str
    reason: str
    expires: dt.date | None
    number: int

    def covers_plugin(self, label: str) -> bool:
        return fnmatch.fnmatchcase(label, self.plugin)

    def covers(self, label: str, item_id: str) -> bool:
        """An item id matches itself; a bare check id matches the check at every host version."""
        if not self.covers_plugin(label):
            return False
        return item_id == self.check or ("[" not in self.check and item_id.split("[", 1)[0] == self.check)

    def expired(self, today: dt.date) -> bool:
        """The expiry date is the last day the entry is valid."""
        return self.expires is not None and today > self.expires

    def describe(self) -> str:
        return f"entry #{self.number} (plugin {self.plugin!r}, check {self.check!r})"

    def to_json(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "check": self.check,
            "reason": self.reason,
            "expires": self.expires.isoformat() if self.expires else None,
        }


@dataclass(frozen=True)
class Baseline:
    """A loaded baseline file; ``today`` is fixed at load time so one run judges expiry once."""

    path: Path
    entries: tuple[Accepted, ...]
    today: dt.date

    def _matching(self, label: str, item_id: str) -> list[Accepted]:
        return [entry for entry in self.entries if entry.covers(label, item_id)]

    def classify(self, label: str, item_id: str, status: Status, severity: Severity) -> Classification | None:
        matching = self._matching(label, item_id)
        accepted = any(not entry.expired(self.today) for entry in matching)
        return baseline_class(status, severity, listed=bool(matching), accepted=accepted)

    def expired_entries(self, labels: Iterable[str]) -> list[Accepted]:
        """Expired entries that concern at least one of the plugins of this run."""
        labels = list(labels)
        return [
            entry
            for entry in self.entries
            if entry.expired(self.today) and any(entry.covers_plugin(label) for label in labels)
        ]

    def unmatched_entries(self, label: str, item_ids: Collection[str]) -> list[Accepted]:
        """Entries for this plugin that match no item of the run (renamed check, typo, or ``-k``)."""
        return [
            entry
            for entry in self.entries
            if entry.covers_plugin(label) and not any(entry.covers(label, item) for item in item_ids)
        ]

    def expiry_message(self, entry: Accepted) -> str:
        assert entry.expires is not None
        return (
            f"baseline {self.path}: {entry.describe()} expired on {entry.expires.isoformat()}: "
            "fix the check or renew the entry with a new date and reason"
        )


def _entry(raw: object, number: int, path: Path, known_checks: Collection[str] | None) -> Accepted:
    where = f"baseline {path}: [[accepted]] entry #{number}"
    if not isinstance(raw, dict):
        raise BaselineError(f"{where} is not a table")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise BaselineError(f"{where}: unknown key {unknown[0]!r} (allowed: check, expires, plugin, reason)")
    values: dict[str, str] = {}
    for key in ("plugin", "check", "reason"):
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            hint = ' (use plugin = "*" for every plugin)' if key == "plugin" else ""
            raise BaselineError(f"{where}: `{key}` must be a non-empty string{hint}")
        values[key] = value.strip()
    check = values["check"]
    if known_checks is not None and check.split("[", 1)[0] not in known_checks:
        raise BaselineError(f"{where}: unknown check {check!r} (see `conformance list-checks`)")
    expires = raw.get("expires")
    if expires is not None and (not isinstance(expires, dt.date) or isinstance(expires, dt.datetime)):
        raise BaselineError(f"{where}: `expires` must be a TOML date such as 2027-01-31 (no quotes, no time)")
    return Accepted(values["plugin"], check, values["reason"], expires, number)


def parse_baseline(
    text: str, path: Path, today: dt.date | None = None, known_checks: Collection[str] | None = None
) -> Baseline:
    """Parse and validate the file's text; ``known_checks`` (check ids) rejects typos when given."""
    # Imported here: a run without --baseline never parses TOML, and the reports import this module.
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BaselineError(f"baseline {path}: not valid TOML: {error}") from None
    unknown = sorted(set(data) - {"accepted"})
    if unknown:
        raise BaselineError(f"baseline {path}: unknown top-level key {unknown[0]!r} (expected [[accepted]] entries)")
    raw_entries = data.get("accepted", [])
    if not isinstance(raw_entries, list):
        raise BaselineError(f"baseline {path}: `accepted` must be an array of tables ([[accepted]])")
    entries = tuple(_entry(raw, number, path, known_checks) for number, raw in enumerate(raw_entries, 1))
    seen: dict[tuple[str, str], int] = {}
    for entry in entries:
        first = seen.setdefault((entry.plugin, entry.check), entry.number)
        if first != entry.number:
            raise BaselineError(f"baseline {path}: {entry.describe()} repeats entry #{first}")
    return Baseline(path, entries, today or dt.date.today())


def load_baseline(path: Path, today: dt.date | None = None, validate_checks: bool = True) -> Baseline:
    """Read a baseline file; check ids are validated against the catalogue unless told otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"baseline {path}: no such file") from None
    except IsADirectoryError:
        raise BaselineError(f"baseline {path}: is a directory, not a TOML file") from None
    except UnicodeDecodeError:
        raise BaselineError(f"baseline {path}: not UTF-8 text") from None
    except OSError as error:
        raise BaselineError(f"baseline {path}: cannot read: {error.strerror or error}") from None
    known: Collection[str] | None = None
    if validate_checks:
        known = frozenset(checks_by_id())
    return parse_baseline(text, path, today, known)
