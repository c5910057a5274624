"""index.html for a run over several plugins: one row per plugin, failing plugins first.

The SDK release gate checks dozens of plugins in one run; this page answers
"which ones fail, on which host versions, and is that new" at a glance and
links each row to the plugin's own report.html.
"""

from __future__ import annotations

from typing import Any

from conformance.report.html_common import FILTER_JS, esc, page
from conformance.report.present import ALL_HOSTS, STATUS_ORDER, blocking_checks, host_cells, new_blocking

_SYMBOL = {"compatible": "\u2713", "incompatible": "\u2717", "n/a": "\u2013"}


def accepted(report: dict[str, Any]) -> bool:
    """Failing, but every failure is accepted by the run's baseline (for the gate: a fixture's expected defect)."""
    section = report.get("baseline") or {}
    return bool(report["verdict"] == "fail" and section.get("outcome") == "pass" and report["complete"])


def _badge(report: dict[str, Any]) -> str:
    if accepted(report):
        return '<span class="badge s-skip" title="every failure is accepted by the baseline">FAIL (expected)</span>'
    return f'<span class="badge s-{esc(report["verdict"])}">{esc(report["verdict"].upper())}</span>'


def _row(report: dict[str, Any]) -> str:
    plugin = report["plugin"]
    label = plugin["name"]
    counts = report.get("counts", {})
    cells = "".join(f'<td class="num">{counts.get(status, 0) or ""}</td>' for status in STATUS_ORDER)
    hosts = "".join(
        f'<td class="{"na" if state == "n/a" else state}" title="{esc(state)}">{_SYMBOL[state]}</td>'
        for _, state, _ in host_cells(report)
    )
    section = report.get("baseline")
    baseline = (
        f"{len(section['new'])} new / {len(section['known'])} known / {len(section['improved'])} improved"
        + (f" / {len(section['expired'])} expired" if section["expired"] else "")
        if section
        else ""
    )
    version = plugin.get("api_version")
    problem = (report["verdict"] != "pass" and not accepted(report)) or not report["complete"]
    return (
        f'<tr data-check="{esc(label)}" data-problem="{1 if problem else 0}" data-verdict="{esc(report["verdict"])}">'
        f'<td><a href="{esc(label)}/report.html"><code>{esc(label)}</code></a></td>'
        f"<td>{_badge(report)}</td>"
        f"<td>{esc(report['grade'])}</td><td>{esc(f'v{version}' if version is not None else '-')}</td>"
        f"<td>{len(blocking_checks(report))}</td>{cells}{hosts}<td>{esc(baseline)}</td>"
        f"<td>{'yes' if report['complete'] else '<b>no</b>'}</td></tr>"
    )


def render_index(reports: list[dict[str, Any]], run_id: str, gate: dict[str, Any] | None = None) -> str:
    """The run's overview page; ``reports`` are report.json dictionaries.

    A plugin whose failures are all accepted by the baseline is not red: the
    SDK release gate accepts each defective fixture's expected failures that
    way, and a passing gate must not look like a failing run. ``gate``
    (gate.json's content) puts the gate's own verdict in the banner.
    """
    ordered = sorted(reports, key=lambda r: (r["verdict"] == "pass", len(new_blocking(r)) == 0, r["plugin"]["name"]))
    expected = sum(1 for r in reports if accepted(r))
    failing = sum(1 for r in reports if r["verdict"] != "pass") - expected
    incomplete = sum(1 for r in reports if not r["complete"])
    verdict = "fail" if failing or incomplete else "pass"
    headline = f"{len(reports)} plugins: {len(reports) - failing - expected} pass"
    if expected:
        headline += f", {expected} fail as expected (accepted by the baseline)"
    headline += f", {failing} fail"
    if incomplete:
        headline += f", {incomplete} incomplete"
    title = "StreamKit conformance run"
    if gate is not None:
        verdict = str(gate["verdict"])
        title = "SDK release gate"
        problems = len(gate.get("problems", []))
        headline = (
            f"{len(gate.get('fixtures', []))} corpus fixtures held to their expected.toml, "
            f"{len(gate.get('extra_plugins', []))} extra plugins; {problems} problem{'s' if problems != 1 else ''}"
            f" (gate.json). {headline}"
        )
    status_heads = "".join(f'<th class="num">{esc(status)}</th>' for status in STATUS_ORDER)
    host_heads = "".join(f"<th>v{host}</th>" for host in ALL_HOSTS)
    generated = max((r["generated_at"] for r in reports), default="")
    body = (
        f'<header id="verdict" class="banner {verdict}" data-verdict="{verdict}"><h1>'
        f'<span class="verdict">{verdict.upper()}</span> {esc(title)}</h1>'
        f'<div class="sub">{esc(headline)}</div><dl><dt>run</dt><dd>{esc(run_id)}</dd>'
        f"<dt>generated</dt><dd>{esc(generated)}</dd></dl></header><main>"
        '<div class="toolbar"><input type="search" id="filter" placeholder="filter plugins" aria-label="filter">'
        '<label><input type="checkbox" id="only-problems"> only failing or incomplete</label></div>'
        '<table id="plugins"><thead><tr><th>plugin</th><th>verdict</th><th>grade</th><th>API</th>'
        f"<th>required failed</th>{status_heads}{host_heads}<th>baseline</th><th>complete</th></tr></thead>"
        f"<tbody>{''.join(_row(r) for r in ordered)}</tbody></table>"
        "<footer>Host columns: \u2713 compatible, \u2717 a required check failed at that host, "
        "\u2013 not applicable. Each plugin's report.json and report.html are in its directory.</footer></main>"
    )
    return page(f"StreamKit conformance: {headline}", run_id, body, FILTER_JS)
