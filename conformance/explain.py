"""Plain-language explanations of every check, for plugin authors.

``explanation(check_id)`` joins a catalogue entry (severity, ABI reference,
category) with its text in ``conformance/data/explanations.toml``: what the
check verifies, why the host needs it, what usually makes it fail, how to fix
it, and often a short C or Rust sketch. Numbers the code decides (windows,
cycles, budgets) are placeholders naming the code's constants, so the prose
cannot drift from what the checks do. Ids may carry a host-version suffix
(``wire-in.binary.plain[v8]``); it is ignored. ``render_text`` formats one
explanation for a terminal, ``render_markdown`` as a section of
``docs/checks.md``, and ``generate_docs`` the whole document, which
``python -m conformance.explain > docs/checks.md`` regenerates.
"""

from __future__ import annotations

import difflib
import importlib
import re
import sys
import textwrap
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from conformance.checks.model import Severity
from conformance.checks.registry import catalogue, checks_by_id

DATA_PATH = "data/explanations.toml"
DOCS_COMMAND = "python -m conformance.explain > docs/checks.md"

TEXT_FIELDS: tuple[str, ...] = ("title", "verifies", "why", "causes", "fix")
_SKETCH_FIELDS = ("sketch", "sketch_language")
_FIELDS = frozenset(TEXT_FIELDS + _SKETCH_FIELDS)
_BUILTINS = ("id", "abi_ref", "severity", "category")
_PLACEHOLDER = re.compile(r"\{\{([a-z_][a-z0-9_]*)\}\}")
#: ``{{checks.callbacks.LATE_WINDOW_S|ms}}``, ``{{budgets.SLOW_THRESHOLDS_S[flush]|ms}}``: a constant of a
#: ``conformance`` module (an entry of it when it is a mapping), so numbers in the prose follow the code.
_CONSTANT = re.compile(
    r"\{\{(?P<module>[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\.(?P<name>[A-Z][A-Z0-9_]*)"
    r"(?:\[(?P<key>[a-z0-9_]+)\])?(?:\|(?P<unit>[a-z]+))?\}\}"
)
_UNITS = {
    "": lambda value: f"{value:g}" if isinstance(value, float) else str(value),
    "ms": lambda value: f"{round(value * 1000)} ms",
    "s": lambda value: f"{value:g} s",
}
_HOST_SUFFIX = re.compile(r"\[v\d+\]$")
_MAX_NESTING = 4

SECTION_LABELS: tuple[tuple[str, str], ...] = (
    ("verifies", "What it verifies"),
    ("why", "Why the host needs it"),
    ("causes", "Typical causes of a failure"),
    ("fix", "How to fix it"),
)


@dataclass(frozen=True)
class Sketch:
    """A short code example: ``language`` is a fence tag such as ``c``, ``rust`` or ``json``."""

    language: str
    code: str


@dataclass(frozen=True)
class Explanation:
    """One check explained. Prose fields hold paragraphs separated by blank lines; list items start with "- "."""

    id: str
    title: str
    verifies: str
    why: str
    causes: str
    fix: str
    sketch: Sketch | None
    abi_ref: str
    severity: Severity
    category: str


class UnknownCheckError(KeyError):
    """No check has this id; ``suggestions`` holds the closest ids."""

    def __init__(self, check_id: str, suggestions: tuple[str, ...]) -> None:
        self.check_id = check_id
        self.suggestions = suggestions
        if suggestions:
            message = f"no check with id {check_id!r}; did you mean: {', '.join(suggestions)}?"
        else:
            message = f"no check with id {check_id!r} (`conformance list-checks` lists them all)"
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class MissingExplanationError(KeyError):
    """The check exists but ``conformance/data/explanations.toml`` has no entry for it."""

    def __init__(self, check_id: str) -> None:
        super().__init__(f'check {check_id!r} has no explanation: add [checks."{check_id}"] to conformance/{DATA_PATH}')

    def __str__(self) -> str:
        return str(self.args[0])


class ExplanationDataError(ValueError):
    """The explanation data is malformed (unknown family, missing field, unknown placeholder...)."""


# -- data ----------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files("conformance").joinpath(DATA_PATH).read_text(encoding="utf-8")
    return tomllib.loads(text)


def _table(name: str) -> dict[str, Any]:
    value = _data().get(name, {})
    if not isinstance(value, dict):
        raise ExplanationDataError(f"[{name}] must be a table")
    return value


def documented_ids() -> tuple[str, ...]:
    """Every check id that has an entry in the data file, in file order."""
    return tuple(_table("checks"))


def family_names() -> tuple[str, ...]:
    return tuple(_table("families"))


def families_in_use() -> frozenset[str]:
    """Families at least one check entry refers to."""
    used = set()
    for entry in _table("checks").values():
        if isinstance(entry, dict) and isinstance(entry.get("family"), str):
            used.add(entry["family"])
    return frozenset(used)


def category_descriptions() -> dict[str, str]:
    return {str(key): str(value) for key, value in _table("categories").items()}


# -- ids -----------------------------------------------------------------------------------------


def base_id(check_id: str) -> str:
    """``wire-in.binary.plain[v8]`` -> ``wire-in.binary.plain`` (surrounding blanks are ignored too)."""
    return _HOST_SUFFIX.sub("", check_id.strip())


def suggest(check_id: str, limit: int = 5) -> tuple[str, ...]:
    """The catalogue ids closest to ``check_id``: ids it is a prefix of, then the most similar ones."""
    wanted = base_id(check_id)
    ids = list(checks_by_id())
    found: list[str] = []
    if wanted:
        found.extend(known for known in ids if known.startswith(wanted))
    found.extend(difflib.get_close_matches(wanted, ids, n=limit, cutoff=0.6))
    if not found:
        # A known suffix under the wrong category (``panic.flush``), or a typo in the category.
        tail = wanted.split(".", 1)[-1]
        found.extend(difflib.get_close_matches(tail, ids, n=limit, cutoff=0.6))
        found.extend(known for known in ids if known.split(".", 1)[-1] == tail)
    return tuple(dict.fromkeys(found))[:limit]


# -- resolving one entry --------------------------------------------------------------------------


def explanation(check_id: str) -> Explanation:
    """The explanation of ``check_id`` (a host-version suffix such as ``[v8]`` is accepted).

    Raises ``UnknownCheckError`` (a ``KeyError``) naming the closest ids when
    no check has that id.
    """
    wanted = base_id(check_id)
    check = checks_by_id().get(wanted)
    if check is None:
        raise UnknownCheckError(check_id, suggest(check_id))
    return _explain(check.id)


@cache
def _explain(check_id: str) -> Explanation:
    check = checks_by_id()[check_id]
    entry = _table("checks").get(check.id)
    if entry is None:
        raise MissingExplanationError(check.id)
    if not isinstance(entry, dict):
        raise ExplanationDataError(f"{check.id}: the entry must be a table")
    fields = _merged_fields(check.id, entry)
    own_variables = {key for key in entry if key not in _FIELDS and key != "family"}
    variables: dict[str, str] = {key: value for key, value in fields.items() if key not in _FIELDS}
    for name in _BUILTINS:
        if name in variables:
            raise ExplanationDataError(f"{check.id}: {name!r} is a built-in variable and cannot be set")
    variables.update(id=check.id, abi_ref=check.abi_ref, severity=check.severity.value, category=check.category)

    used: set[str] = set()
    resolved: dict[str, str] = {}
    for name in TEXT_FIELDS + ("sketch",):
        if name in fields:
            resolved[name] = _fill(fields[name], variables, used, f"{check.id}.{name}")
    unused = sorted(own_variables - used)
    if unused:
        raise ExplanationDataError(
            f"{check.id}: {', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used by any field "
            f"(a misspelt field name? fields are {', '.join(TEXT_FIELDS + _SKETCH_FIELDS)})"
        )
    for name in TEXT_FIELDS:
        if not resolved.get(name, "").strip():
            raise ExplanationDataError(f"{check.id}: {name!r} is missing or empty")

    sketch = None
    if "sketch" in resolved:
        language = fields.get("sketch_language", "").strip()
        if not language:
            raise ExplanationDataError(f"{check.id}: a sketch needs sketch_language")
        code = _code(resolved["sketch"])
        if not code:
            raise ExplanationDataError(f"{check.id}: the sketch is empty")
        sketch = Sketch(language, code)
    return Explanation(
        id=check.id,
        title=" ".join(resolved["title"].split()),
        verifies=_prose(resolved["verifies"]),
        why=_prose(resolved["why"]),
        causes=_prose(resolved["causes"]),
        fix=_prose(resolved["fix"]),
        sketch=sketch,
        abi_ref=check.abi_ref,
        severity=check.severity,
        category=check.category,
    )


def _merged_fields(check_id: str, entry: dict[str, Any]) -> dict[str, str]:
    """The family's fields and defaults, overridden by the entry's own keys; every value a string."""
    merged: dict[str, Any] = {}
    family = entry.get("family")
    if family is not None:
        families = _table("families")
        if not isinstance(family, str) or family not in families:
            raise ExplanationDataError(f"{check_id}: unknown family {family!r}")
        merged.update(families[family])
    merged.update({key: value for key, value in entry.items() if key != "family"})
    for key, value in merged.items():
        if not isinstance(value, str):
            raise ExplanationDataError(f"{check_id}: {key!r} must be a string, not {type(value).__name__}")
    return merged


def _fill(text: str, variables: dict[str, str], used: set[str], where: str) -> str:
    """Replace ``{{name}}`` variables and ``{{module.CONSTANT}}`` constants (values may hold placeholders
    themselves, a few levels deep)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise ExplanationDataError(f"{where}: unknown placeholder {{{{{name}}}}}")
        used.add(name)
        return variables[name]

    def constant(match: re.Match[str]) -> str:
        return constant_text(match.group("module"), match.group("name"), match.group("key"), match.group("unit"), where)

    for _ in range(_MAX_NESTING):
        if not _PLACEHOLDER.search(text) and not _CONSTANT.search(text):
            return text
        text = _CONSTANT.sub(constant, _PLACEHOLDER.sub(replace, text))
    if _PLACEHOLDER.search(text) or _CONSTANT.search(text):
        raise ExplanationDataError(f"{where}: placeholders nested too deeply")
    return text


def constant_text(module: str, name: str, key: str | None, unit: str | None, where: str) -> str:
    """The value of ``conformance.<module>.<name>`` (``[key]`` of it), written in ``unit``."""
    placeholder = f"{module}.{name}" + (f"[{key}]" if key else "") + (f"|{unit}" if unit else "")
    try:
        value = getattr(importlib.import_module(f"conformance.{module}"), name)
    except (ImportError, AttributeError):
        raise ExplanationDataError(f"{where}: {{{{{placeholder}}}}} names no constant") from None
    if key is not None:
        if not isinstance(value, Mapping) or key not in value:
            raise ExplanationDataError(f"{where}: {{{{{placeholder}}}}} names no entry of a constant mapping")
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ExplanationDataError(f"{where}: {{{{{placeholder}}}}} is not a number or a string")
    if unit and not isinstance(value, int | float):
        raise ExplanationDataError(f"{where}: {{{{{placeholder}}}}}: a unit needs a number")
    if (unit or "") not in _UNITS:
        raise ExplanationDataError(
            f"{where}: {{{{{placeholder}}}}}: unknown unit (use {', '.join(filter(None, _UNITS))})"
        )
    return _UNITS[unit or ""](value)


def _prose(text: str) -> str:
    """Join the lines of each paragraph and list item; paragraphs are separated by one blank line."""
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        items: list[str] = []
        for line in block.splitlines():
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("- ") or not items:
                items.append(stripped)
            else:
                items[-1] += " " + stripped
        if items:
            paragraphs.append("\n".join(items))
    return "\n\n".join(paragraphs)


def _code(text: str) -> str:
    lines = [line.rstrip() for line in textwrap.dedent(text).splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def all_explanations() -> list[Explanation]:
    """Every check's explanation, in catalogue order."""
    return [_explain(check.id) for check in catalogue()]


# -- rendering -------------------------------------------------------------------------------------


def render_text(expl: Explanation, width: int = 88) -> str:
    """The explanation for a terminal: headed sections, wrapped to ``width`` columns."""
    lines = [
        f"{expl.id}  [{expl.severity.value}]",
        *textwrap.wrap(expl.title, width),
        f"Spec: {expl.abi_ref}",
    ]
    for field, label in SECTION_LABELS:
        lines += ["", label]
        lines += _wrap_prose(getattr(expl, field), width, "  ")
    if expl.sketch is not None:
        lines += ["", f"Sketch ({expl.sketch.language})"]
        lines += [("    " + line) if line else "" for line in expl.sketch.code.splitlines()]
    return "\n".join(lines) + "\n"


def _wrap_prose(text: str, width: int, indent: str) -> list[str]:
    lines: list[str] = []
    for number, paragraph in enumerate(text.split("\n\n")):
        if number:
            lines.append("")
        for item in paragraph.split("\n"):
            if item.startswith("- "):
                lines += textwrap.wrap(
                    item[2:],
                    width,
                    initial_indent=indent + "- ",
                    subsequent_indent=indent + "  ",
                    break_on_hyphens=False,
                    break_long_words=False,
                )
            else:
                lines += textwrap.wrap(
                    item,
                    width,
                    initial_indent=indent,
                    subsequent_indent=indent,
                    break_on_hyphens=False,
                    break_long_words=False,
                )
    return lines


_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)


def _markdown_inline(text: str) -> str:
    """Escape characters Markdown would swallow (``<`` as HTML, ``*`` as emphasis) outside code spans."""
    out: list[str] = []
    position = 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_escape(text[position : match.start()]))
        out.append(match.group(0))
        position = match.end()
    out.append(_escape(text[position:]))
    return "".join(out)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("<", "&lt;").replace("*", "\\*")


def anchor(check_id: str) -> str:
    """The HTML anchor of a check in docs/checks.md."""
    return check_id


def category_anchor(category: str) -> str:
    return f"category-{category}"


def render_markdown(expl: Explanation, heading_level: int = 3) -> str:
    """The explanation as a Markdown section with an anchor named after the check id."""
    hashes = "#" * heading_level
    lines = [
        f'<a id="{anchor(expl.id)}"></a>',
        "",
        f"{hashes} `{expl.id}`: {_markdown_inline(expl.title)}",
        "",
        f"**Severity:** {expl.severity.value} · **Category:** {expl.category} · "
        f"**Spec:** {_markdown_inline(expl.abi_ref)}",
    ]
    for field, label in SECTION_LABELS:
        lines += ["", f"**{label}**", ""]
        for number, paragraph in enumerate(getattr(expl, field).split("\n\n")):
            if number:
                lines.append("")
            lines += [_markdown_inline(item) for item in paragraph.split("\n")]
    if expl.sketch is not None:
        lines += ["", f"```{expl.sketch.language}", expl.sketch.code, "```"]
    return "\n".join(lines) + "\n"


def generate_docs() -> str:
    """``docs/checks.md``: every check grouped by category, in catalogue order, with a table of contents."""
    explanations = all_explanations()
    categories: dict[str, list[Explanation]] = {}
    for expl in explanations:
        categories.setdefault(expl.category, []).append(expl)
    descriptions = category_descriptions()
    required = sum(1 for expl in explanations if expl.severity is Severity.REQUIRED)
    parts = [
        "# Conformance checks",
        "",
        f"<!-- Generated by `{DOCS_COMMAND}` from the check catalogue and conformance/{DATA_PATH}. "
        "Do not edit by hand: tests/test_explain.py fails when this file is out of date. -->",
        "",
        "Every check the battery runs, explained for plugin authors: what it verifies, why the StreamKit host "
        "needs it (with the section of the ABI reference, ABI.md, or of the host notes, HOST.md, that it "
        "enforces), what usually makes it fail, and how to fix it. `conformance explain CHECK_ID` prints the "
        "same text in a terminal.",
        "",
        f"- **{len(explanations)} checks** in {len(categories)} categories, listed in catalogue order.",
        f"- **Severity.** The {required} `required` checks protect the host: when one does not pass, the run "
        "fails. A `recommended` check that does not pass is reported (a failed expectation as a warning) but "
        "does not fail the run.",
        "- **Host versions.** Some checks run once per host version that can load the plugin and are reported "
        "with a suffix, for example `wire-in.binary.plain[v8]`; each is explained under its id without the "
        "suffix.",
        "- **Reproducing.** Every failure in a report comes with a `conformance repro PLUGIN CHECK_ID` command "
        "that re-runs just that check.",
        "",
        "## Contents",
        "",
    ]
    for category, members in categories.items():
        parts.append(f"- [{category}](#{category_anchor(category)}) ({len(members)})")
        parts += [f"  - [`{expl.id}`](#{anchor(expl.id)}): {_markdown_inline(expl.title)}" for expl in members]
    for category, members in categories.items():
        parts += ["", f'<a id="{category_anchor(category)}"></a>', "", f"## {category}", ""]
        if category in descriptions:
            parts += [_markdown_inline(descriptions[category]), ""]
        for number, expl in enumerate(members):
            if number:
                parts.append("")
            parts.append(render_markdown(expl).rstrip("\n"))
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m conformance.explain`` prints docs/checks.md; with ids, their explanations as text."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.stdout.write(generate_docs())
        return 0
    status = 0
    for number, check_id in enumerate(args):
        try:
            text = render_text(explanation(check_id))
        except KeyError as error:
            print(f"conformance.explain: {error}", file=sys.stderr)
            status = 2
            continue
        sys.stdout.write(("\n" if number else "") + text)
    return status


if __name__ == "__main__":
    sys.exit(main())
