"""The check record, its applicability, and the vocabulary of results.

A check is data plus a scenario: a stable id (public API: deprecated, never
renamed), the ABI rule it enforces, why a host needs it, where it applies and
how long it may take. ``Outcome`` (scenario.protocol) says what happened to the
child; ``Status`` says what the check concluded; ``Severity`` says how much it
matters.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from conformance.abi.constants import PacketType, packet_type_name
from conformance.scenario.context import ScenarioContext


class Severity(enum.StrEnum):
    REQUIRED = "required"
    RECOMMENDED = "recommended"
    INFO = "info"


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    CRASH = "crash"
    TIMEOUT = "timeout"
    ERROR = "error"  # the validator itself failed; never counted as a pass
    FLAKY = "flaky"  # outcomes differed between runs of the same check


#: Every category, in catalogue order (a check id starts with one of them).
CATEGORIES: tuple[str, ...] = (
    "load",
    "metadata",
    "lifecycle",
    "wire-in",
    "wire-out",
    "callbacks",
    "errors",
    "params",
    "panics",
    "timeouts",
    "threading",
    "logging",
    "source",
    "schema",
    "leaks",
)


@dataclass(frozen=True)
class PluginFacts:
    """What the probe learned about a plugin; decides which checks apply."""

    loadable: bool
    load_problem: str = ""
    version: int | None = None
    node_kind: str = "processor"  # "processor" or "source"
    kind: str | None = None
    input_pins: tuple[tuple[str, tuple[int, ...]], ...] = ()
    output_pins: tuple[tuple[str, int], ...] = ()
    has_setter: bool = False
    entries: tuple[str, ...] = ()
    language: str = "unknown"
    metadata: dict[str, Any] = field(default_factory=dict)
    wedged: tuple[tuple[str, str], ...] = ()
    crashed: tuple[tuple[str, str], ...] = ()
    failed_entry: str | None = None  # the call in flight when the probe crashed or timed out
    #: ``checks.minimise``: which field of the ordinary packet that crashed triage flips crash vs pass.
    crash_difference: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain data, for handing probed facts to xdist workers (which must not probe again)."""
        return {
            "loadable": self.loadable,
            "load_problem": self.load_problem,
            "version": self.version,
            "node_kind": self.node_kind,
            "kind": self.kind,
            "input_pins": [[name, list(types)] for name, types in self.input_pins],
            "output_pins": [[name, produces] for name, produces in self.output_pins],
            "has_setter": self.has_setter,
            "entries": list(self.entries),
            "language": self.language,
            "metadata": self.metadata,
            "wedged": [list(pair) for pair in self.wedged],
            "crashed": [list(pair) for pair in self.crashed],
            "failed_entry": self.failed_entry,
            "crash_difference": self.crash_difference,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PluginFacts:
        return cls(
            loadable=bool(data["loadable"]),
            load_problem=str(data["load_problem"]),
            version=data["version"],
            node_kind=str(data["node_kind"]),
            kind=data["kind"],
            input_pins=tuple((str(name), tuple(int(t) for t in types)) for name, types in data["input_pins"]),
            output_pins=tuple((str(name), int(produces)) for name, produces in data["output_pins"]),
            has_setter=bool(data["has_setter"]),
            entries=tuple(str(entry) for entry in data["entries"]),
            language=str(data["language"]),
            metadata=dict(data["metadata"]),
            wedged=tuple((str(entry), str(detail)) for entry, detail in data["wedged"]),
            crashed=tuple((str(entry), str(detail)) for entry, detail in data["crashed"]),
            failed_entry=data["failed_entry"],
            crash_difference=dict(data.get("crash_difference") or {}),
        )

    @property
    def accepted_types(self) -> frozenset[int]:
        return frozenset(t for _, types in self.input_pins for t in types)

    def accepts(self, packet_type: int) -> bool:
        """Whether some input pin takes this runtime type (Any takes all; Binary and BinaryWithMeta alias)."""
        accepted = self.accepted_types
        if PacketType.ANY in accepted or packet_type in accepted:
            return True
        return packet_type in _BINARY_ALIASES and bool(accepted & _BINARY_ALIASES)

    @property
    def is_echo(self) -> bool:
        """A plugin that declares a Passthrough output promises to give back what it was given."""
        return any(produces == PacketType.PASSTHROUGH for _, produces in self.output_pins)


_BINARY_ALIASES = frozenset({PacketType.BINARY, PacketType.BINARY_WITH_META})

#: Table entries a plugin may leave out; a check that calls one applies only when it is there.
OptionalEntry = Literal["get_source_config", "tick", "get_runtime_param_schema", "on_upstream_hint"]
Language = Literal["rust", "c"]


@dataclass(frozen=True, kw_only=True)
class Needs:
    """Capabilities a plugin must have for a check to apply; the first one missing is the skip reason.

    Typed so that a misspelt capability fails ``mypy`` and the catalogue build, not a run.
    """

    entry: OptionalEntry | None = None
    setter: bool = False
    inputs: bool = False
    echo: bool = False
    accepts: PacketType | None = None
    language: Language | None = None

    def __post_init__(self) -> None:
        if self.entry is not None and self.entry not in get_args(OptionalEntry):
            raise ValueError(f"{self.entry!r} is not an optional entry point")
        if self.accepts is not None and not isinstance(self.accepts, PacketType):
            raise ValueError(f"accepts takes a PacketType, not {self.accepts!r}")
        if self.language is not None and self.language not in get_args(Language):
            raise ValueError(f"unknown language {self.language!r}")

    def __iter__(self) -> Iterator[str]:
        """The capabilities by name, as ``conformance list-checks --json`` prints them."""
        if self.entry is not None:
            yield self.entry
        for name in ("setter", "inputs", "echo"):
            if getattr(self, name):
                yield name
        if self.accepts is not None:
            yield f"accepts:{int(self.accepts)}"
        if self.language is not None:
            yield self.language

    def missing(self, facts: PluginFacts) -> str | None:
        """Why ``facts`` lack a needed capability, or None when the plugin has them all."""
        if self.entry is not None and self.entry not in facts.entries:
            return f"the table has no {self.entry}"
        if self.setter and not facts.has_setter:
            return "the plugin does not export the log-enabled setter"
        if self.inputs and not facts.input_pins:
            return "the plugin declares no input pin"
        if self.echo and not facts.is_echo:
            return "not an echo plugin (no Passthrough output pin)"
        if self.accepts is not None and not facts.accepts(self.accepts):
            return f"no input pin accepts {packet_type_name(self.accepts)} packets"
        if self.language == "rust" and facts.language != "rust":
            return "not a Rust plugin"
        if self.language == "c" and facts.language == "rust":
            return "a Rust plugin (zero-copy handles are Rust objects there)"
        return None


@dataclass(frozen=True)
class Applicability:
    """Where a check applies: node kinds, plugin versions, and the capabilities it ``needs``."""

    node_kinds: frozenset[str] = frozenset({"processor", "source"})
    min_version: int = 6
    max_version: int = 9
    host_sensitive: bool = False
    needs: Needs = Needs()
    needs_loadable: bool = True


@dataclass(frozen=True, kw_only=True)
class Check:
    """One catalogue entry; built only by ``registry.check``."""

    id: str
    severity: Severity
    abi_ref: str
    rationale: str
    scenario: Callable[[ScenarioContext], None]
    applies: Applicability = Applicability()
    budget_s: float = 10.0
    owns_violations: tuple[str, ...] = ()
    no_failing_fixture: str = ""
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def category(self) -> str:
        """The id's first part: ``wire-in.text.plain`` is a ``wire-in`` check."""
        return self.id.split(".", 1)[0]

    def option_dict(self) -> dict[str, Any]:
        return dict(self.options)


@dataclass(frozen=True)
class Judgement:
    status: Status
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
