"""The explanations: one complete text per catalogue id, id lookup, rendering, and docs/checks.md up to date."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance import explain
from conformance.budgets import DEFAULT_BUDGETS_S, SLOW_THRESHOLDS_S
from conformance.checks.callbacks import LATE_WINDOW_S
from conformance.checks.leaks import CYCLES
from conformance.checks.model import Severity
from conformance.checks.registry import catalogue, checks_by_id
from conformance.explain import (
    DOCS_COMMAND,
    Explanation,
    MissingExplanationError,
    UnknownCheckError,
    base_id,
    explanation,
    generate_docs,
    render_markdown,
    render_text,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "checks.md"
CATALOGUE_IDS = [check.id for check in catalogue()]
#: Any placeholder left over: a variable (``{{name}}``) or a constant (``{{module.NAME[key]|unit}}``).
PLACEHOLDER = re.compile(r"\{\{[a-z_][a-z0-9_.]*(\.[A-Z][A-Z0-9_]*)?(\[[^\]]*\])?(\|[a-z]+)?\}\}")


@pytest.mark.parametrize("check_id", CATALOGUE_IDS)
def test_every_check_has_a_complete_explanation(check_id: str) -> None:
    check = checks_by_id()[check_id]
    expl = explanation(check_id)
    assert expl.id == check_id
    assert expl.severity is check.severity
    assert expl.abi_ref == check.abi_ref
    assert expl.category == check.category
    assert expl.title and "\n" not in expl.title
    for field in ("verifies", "why", "causes", "fix"):
        text = getattr(expl, field)
        assert text.strip(), f"{check_id}: {field} is empty"
        assert not PLACEHOLDER.search(text), f"{check_id}: {field} has an unresolved placeholder"
    assert "ABI.md" in expl.why or "HOST.md" in expl.why, f"{check_id}: `why` does not name the section it enforces"
    if expl.sketch is not None:
        assert expl.sketch.language in ("c", "rust", "json"), expl.sketch.language
        assert expl.sketch.code.strip()
        assert not PLACEHOLDER.search(expl.sketch.code)


def test_documented_ids_are_exactly_the_catalogue() -> None:
    documented = set(explain.documented_ids())
    catalogued = set(CATALOGUE_IDS)
    assert not catalogued - documented, f"checks without an explanation: {sorted(catalogued - documented)}"
    stale = sorted(documented - catalogued)
    assert not stale, f"explanations for ids that are not in the catalogue (stale entries): {stale}"


def test_every_family_is_used() -> None:
    unused = set(explain.family_names()) - explain.families_in_use()
    assert not unused, f"families no check refers to: {sorted(unused)}"


def test_every_category_has_a_description() -> None:
    described = explain.category_descriptions()
    categories = {check.category for check in catalogue()}
    assert not categories - set(described), f"categories without a description: {sorted(categories - set(described))}"
    assert not set(described) - categories, f"descriptions of unknown categories: {sorted(set(described) - categories)}"


def test_unknown_id_raises_key_error_with_suggestions() -> None:
    with pytest.raises(KeyError) as caught:
        explanation("panics.proces-packet")
    assert isinstance(caught.value, UnknownCheckError)
    assert "panics.process-packet" in caught.value.suggestions
    assert "did you mean" in str(caught.value)
    assert "panics.process-packet" in str(caught.value)


def test_unknown_id_under_the_wrong_category_suggests_the_right_one() -> None:
    with pytest.raises(UnknownCheckError) as caught:
        explanation("panic.flush")
    assert "panics.flush" in caught.value.suggestions


def test_unknown_id_without_a_close_match_points_to_the_listing() -> None:
    with pytest.raises(KeyError) as caught:
        explanation("zzzz-nothing-like-it")
    assert "list-checks" in str(caught.value)


def test_category_prefix_suggests_its_checks() -> None:
    with pytest.raises(UnknownCheckError) as caught:
        explanation("timeouts")
    assert caught.value.suggestions
    assert all(item.startswith("timeouts.") for item in caught.value.suggestions)


@pytest.mark.parametrize("check_id", [check.id for check in catalogue() if check.applies.host_sensitive])
def test_host_version_suffix_resolves_to_the_base_id(check_id: str) -> None:
    for host in (6, 7, 8, 9):
        assert explanation(f"{check_id}[v{host}]") == explanation(check_id)


def test_base_id() -> None:
    assert base_id("wire-in.binary.plain[v8]") == "wire-in.binary.plain"
    assert base_id(" load.dlopen ") == "load.dlopen"
    assert base_id("load.dlopen") == "load.dlopen"


def test_suffix_on_an_unknown_id_still_raises() -> None:
    with pytest.raises(UnknownCheckError) as caught:
        explanation("wire-in.binary.plan[v8]")
    assert "wire-in.binary.plain" in caught.value.suggestions


def test_missing_explanation_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    data = explain._data()
    trimmed = {**data, "checks": {k: v for k, v in data["checks"].items() if k != "load.dlopen"}}
    monkeypatch.setattr(explain, "_data", lambda: trimmed)
    explain._explain.cache_clear()
    try:
        with pytest.raises(MissingExplanationError) as caught:
            explanation("load.dlopen")
        assert "explanations.toml" in str(caught.value)
    finally:
        monkeypatch.undo()
        explain._explain.cache_clear()


def test_misspelt_field_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    data = explain._data()
    entry = dict(data["checks"]["load.dlopen"])
    entry["cuases"] = "typo"
    broken = {**data, "checks": {**data["checks"], "load.dlopen": entry}}
    monkeypatch.setattr(explain, "_data", lambda: broken)
    explain._explain.cache_clear()
    try:
        with pytest.raises(explain.ExplanationDataError, match="cuases"):
            explanation("load.dlopen")
    finally:
        monkeypatch.undo()
        explain._explain.cache_clear()


def _with_verifies(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    data = explain._data()
    entry = {**data["checks"]["load.dlopen"], "verifies": text}
    monkeypatch.setattr(explain, "_data", lambda: {**data, "checks": {**data["checks"], "load.dlopen": entry}})
    explain._explain.cache_clear()


def test_every_explanation_renders_with_its_constants() -> None:
    """Numbers in the prose are the code's constants: rendering fails on one that names no constant."""
    explain._explain.cache_clear()
    rendered = [render_text(expl) + render_markdown(expl) for expl in explain.all_explanations()]
    assert not [text for text in rendered if PLACEHOLDER.search(text)]


def test_constants_are_written_from_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_verifies(
        monkeypatch,
        "{{checks.callbacks.LATE_WINDOW_S|ms}}, {{budgets.DEFAULT_BUDGETS_S[create_instance]|s}}, "
        "{{checks.leaks.CYCLES}} and {{budgets.SLOW_THRESHOLDS_S[{{entry}}]}} ok",
    )
    try:
        data = explain._data()
        entry = {**data["checks"]["load.dlopen"], "entry": "flush"}
        monkeypatch.setattr(explain, "_data", lambda: {**data, "checks": {**data["checks"], "load.dlopen": entry}})
        explain._explain.cache_clear()
        assert explanation("load.dlopen").verifies == (
            f"{round(LATE_WINDOW_S * 1000)} ms, {DEFAULT_BUDGETS_S['create_instance']:g} s, {CYCLES} and "
            f"{SLOW_THRESHOLDS_S['flush']:g} ok"
        )
    finally:
        monkeypatch.undo()
        explain._explain.cache_clear()


@pytest.mark.parametrize(
    ("placeholder", "complaint"),
    [
        ("{{checks.callbacks.LATE_WINDOW_MS}}", "names no constant"),
        ("{{checks.nowhere.CYCLES}}", "names no constant"),
        ("{{budgets.DEFAULT_BUDGETS_S[no_such_entry]|s}}", "no entry"),
        ("{{checks.leaks.CYCLES|hours}}", "unknown unit"),
    ],
)
def test_a_placeholder_that_names_no_constant_is_an_error(
    monkeypatch: pytest.MonkeyPatch, placeholder: str, complaint: str
) -> None:
    _with_verifies(monkeypatch, f"waits {placeholder}.")
    try:
        with pytest.raises(explain.ExplanationDataError, match=complaint):
            explanation("load.dlopen")
    finally:
        monkeypatch.undo()
        explain._explain.cache_clear()


def _sample() -> Explanation:
    return explanation("wire-in.binary-with-meta.handle-empty")


def test_render_text_has_every_part() -> None:
    expl = _sample()
    text = render_text(expl)
    assert text.startswith(f"{expl.id}  [required]")
    for label in ("What it verifies", "Why the host needs it", "Typical causes of a failure", "How to fix it"):
        assert f"\n{label}\n" in text
    assert f"Spec: {expl.abi_ref}" in text
    assert expl.sketch is not None
    assert "Sketch (c)" in text
    assert "    " + expl.sketch.code.splitlines()[0] in text
    assert all(len(line) <= 88 for line in text.splitlines() if not line.startswith("    "))


def test_render_markdown_has_an_anchor_and_escapes_html() -> None:
    expl = explanation("metadata.codec-names")
    markdown = render_markdown(expl)
    assert markdown.startswith(f'<a id="{expl.id}"></a>')
    assert f"### `{expl.id}`: {expl.title}" in markdown
    # `<name>` inside code spans stays as is; nothing outside code spans looks like an HTML tag.
    outside = re.sub(r"`[^`]*`", "", markdown.split("\n", 1)[1])
    assert not re.search(r"<[A-Za-z/]", outside)


def test_docs_are_current() -> None:
    expected = generate_docs()
    actual = DOCS.read_text(encoding="utf-8") if DOCS.exists() else ""
    assert actual == expected, f"docs/checks.md is out of date; regenerate it with: {DOCS_COMMAND}"


def test_docs_cover_every_check_once_in_catalogue_order() -> None:
    docs = generate_docs()
    headings = re.findall(r"^### `([^`]+)`", docs, flags=re.MULTILINE)
    by_category: dict[str, list[str]] = {}
    for check in catalogue():
        by_category.setdefault(check.category, []).append(check.id)
    assert headings == [check_id for ids in by_category.values() for check_id in ids]


def test_docs_links_resolve() -> None:
    docs = generate_docs()
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', docs))
    links = set(re.findall(r"\]\(#([^)]+)\)", docs))
    assert links and not links - anchors, f"links without an anchor: {sorted(links - anchors)}"


def test_main_prints_the_docs(capsys: pytest.CaptureFixture[str]) -> None:
    assert explain.main([]) == 0
    assert capsys.readouterr().out == generate_docs()


def test_main_prints_explanations_and_rejects_unknown_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert explain.main(["load.dlopen", "wire-in.binary.plain[v7]"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("load.dlopen  [required]")
    assert "\nwire-in.binary.plain  [required]" in out
    assert explain.main(["load.dlopn"]) == 2
    assert "load.dlopen" in capsys.readouterr().err


def test_severity_is_the_catalogue_enum() -> None:
    assert explanation("load.log-setter").severity is Severity.RECOMMENDED
