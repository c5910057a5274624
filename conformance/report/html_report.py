"""report.html for one plugin: verdict banner, host matrix, checks by category, slowest checks.

The reader is a plugin author who opened a CI artifact: the verdict and what
to fix come first (banner, then the failing checks), every check's evidence is
one click away but folded, and each failure carries its repro command.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from conformance.report.html_common import FILTER_JS, badge, baseline_badge, esc, page
from conformance.report.jsontext import dumps_indented
from conformance.report.present import (
    ALL_HOSTS,
    blocking,
    count_line,
    duration,
    failures_first,
    host_cells,
    host_reason,
    is_problem,
    one_line,
)
from conformance.report.text import native_frames

_MAX_CALLS = 40
_MAX_LOGS = 40
_SLOWEST = 15
_FACT_KEYS = ("outcome", "signal", "exit_code", "panic", "stack_tool")


def _banner(report: dict[str, Any]) -> str:
    plugin = report["plugin"]
    verdict = report["verdict"]
    problems = [check for check in report["checks"] if blocking(check)]
    classes = f"banner {esc(verdict)}" + ("" if report["complete"] else " incomplete")
    headline = f"{verdict.upper()}" + ("" if report["complete"] else " (incomplete run)")
    if not plugin.get("loadable", True):
        sub = f"not loadable: {plugin.get('load_problem', '')}"
    elif problems:
        sub = f"{len(problems)} required check{'s' if len(problems) != 1 else ''} did not pass"
    else:
        sub = "every required check passed"
    version = plugin.get("api_version")
    facts = [
        ("plugin", plugin["path"]),
        ("sha256", plugin.get("sha256") or "-"),
        (
            "API / kind",
            f"{f'v{version}' if version is not None else 'unknown'} {plugin.get('node_kind') or ''}"
            f" ({plugin.get('kind') or '-'}, {plugin.get('language') or '?'})",
        ),
        ("checks", count_line(report)),
        ("budgets", f"scale {report['budgets']['scale']}"),
        ("tool", f"{report['tool']['name']} {report['tool']['version']}"),
        ("generated", f"{report['generated_at']} (run {report['run']['id']})"),
    ]
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts)
    return (
        f'<header id="verdict" class="{classes}" data-verdict="{esc(verdict)}" data-grade="{esc(report["grade"])}">'
        f'<h1><span class="verdict">{esc(headline)}</span> {esc(plugin["name"])} '
        f'<span class="grade">grade {esc(report["grade"])}</span></h1>'
        f'<div class="sub">{esc(sub)}</div><dl>{rows}</dl></header>'
    )


def _notes(report: dict[str, Any]) -> str:
    notes = []
    run = report["run"]
    if report.get("root_cause"):
        notes.append(report["root_cause"]["summary"][:1].upper() + report["root_cause"]["summary"][1:] + ".")
    if not report["complete"]:
        finished, selected = run.get("items_finished"), run.get("items_selected")
        of = f" of {selected}" if selected is not None else ""
        why = "the run was interrupted" if run.get("interrupted") else "not every selected check finished"
        notes.append(
            f"Incomplete: {why}; {finished}{of} checks have a result. Missing checks are not failures, but a run that did not finish never passes."
        )
    calibration = run.get("calibration")
    if calibration and calibration["budget_factor"] > 1:
        notes.append(
            f"Busy or slow machine ({calibration['slowness']}x the reference): every budget was scaled by "
            f"{calibration['budget_factor']} (at most {calibration['max_budget_factor']})."
        )
    if run.get("keyword") or run.get("markexpr"):
        notes.append(f"Partial battery by choice: -k {run.get('keyword') or '-'} / -m {run.get('markexpr') or '-'}.")
    section = report.get("baseline")
    if section:
        notes.append(
            f"Baseline {section['file']}: {len(section['new'])} new, {len(section['known'])} known (accepted), "
            f"{len(section['improved'])} improved, {len(section['expired'])} expired entries "
            f"-> {section['outcome'].upper()}."
        )
        for entry in section["expired"]:
            notes.append(f"Expired baseline entry: {entry['check']} (expired {entry['expires']}): {entry['reason']}")
    return "".join(f'<p class="note">{esc(note)}</p>' for note in notes)


def _matrix(report: dict[str, Any]) -> str:
    rows = []
    for host, state, because in host_cells(report):
        if state == "n/a":
            detail = f'<span class="na">{esc(host_reason(report, host))}</span>'
        elif because:
            links = ", ".join(f'<a href="#check-{esc(item)}"><code>{esc(item)}</code></a>' for item in because[:12])
            more = f" and {len(because) - 12} more" if len(because) > 12 else ""
            detail = f"required checks failed: {links}{more}"
        else:
            detail = "every required check passed"
        label = {"compatible": "compatible", "incompatible": "incompatible", "n/a": "not applicable"}[state]
        css = "na" if state == "n/a" else state
        rows.append(
            f'<tr data-host="{host}" data-state="{esc(state)}"><th>host v{host}</th>'
            f'<td class="{css}">{label}</td><td>{detail}</td></tr>'
        )
    return (
        '<section id="matrix"><h2>Host-version compatibility</h2>'
        f'<table class="matrix"><thead><tr><th>host</th><th>state</th><th>why</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _failing(report: dict[str, Any]) -> str:
    problems = [check for check in failures_first(report["checks"]) if is_problem(check)]
    if not problems:
        return '<section id="failing"><h2>Problems</h2><p>None: every check passed or did not apply.</p></section>'
    rows = "".join(
        f'<tr data-check="{esc(c["id"])}" data-problem="1"><td>{badge(c["status"])}{baseline_badge(c.get("baseline"))}'
        f'</td><td><a href="#check-{esc(c["id"])}"><code>{esc(c["id"])}</code></a></td>'
        f"<td>{esc(c['severity'])}</td><td>{esc(one_line(c['message'], 240))}</td></tr>"
        for c in problems
    )
    return (
        f'<section id="failing"><h2>Problems ({len(problems)})</h2><table><thead><tr><th>status</th>'
        f"<th>check</th><th>severity</th><th>message</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _pre(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def _calls(calls: list[Any]) -> str:
    shown = calls if len(calls) <= _MAX_CALLS else calls[: _MAX_CALLS - 10] + calls[-10:]
    rows = []
    for index, call in enumerate(shown):
        if len(calls) > _MAX_CALLS and index == _MAX_CALLS - 10:
            rows.append(f'<tr><td colspan="3" class="muted">... {len(calls) - _MAX_CALLS} calls omitted ...</td></tr>')
        if isinstance(call, dict):
            rows.append(
                f"<tr><td><code>{esc(call.get('entry', ''))}</code></td>"
                f'<td class="num">{esc(duration(call.get("duration_s")))}</td>'
                f"<td>{esc(call.get('thread', ''))}</td></tr>"
            )
        else:
            rows.append(f'<tr><td colspan="3"><code>{esc(call)}</code></td></tr>')
    head = "<thead><tr><th>call</th><th>time</th><th>thread</th></tr></thead>"
    return f"<table>{head}<tbody>{''.join(rows)}</tbody></table>"


def _json_text(value: Any) -> str:
    return dumps_indented(value, ensure_ascii=False, default=str)


def _evidence(check: dict[str, Any]) -> str:
    evidence = check.get("evidence") or {}
    parts = []
    facts = [("rule", check.get("abi_ref") or "")]
    in_flight = evidence.get("in_flight")
    if in_flight:
        facts.append(
            (
                "in flight",
                ", ".join(f"{k}: {v}" for k, v in in_flight.items()) if isinstance(in_flight, dict) else str(in_flight),
            )
        )
    facts.extend((key.replace("_", " "), evidence[key]) for key in _FACT_KEYS if evidence.get(key) not in (None, ""))
    facts.append(("duration", duration(check.get("duration_s"))))
    if check.get("host_version") is not None:
        facts.append(("host version", f"v{check['host_version']}"))
    if check.get("attempts"):
        facts.append(("attempts", ", ".join(check["attempts"])))
    if check.get("baseline"):
        facts.append(("baseline", check["baseline"]))
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts if v not in ("", None))
    parts.append(f"<dl>{rows}</dl>")
    parts.append(f"<p>{esc(check['message'])}</p>")
    if check.get("repro"):
        parts.append(f'<p>reproduce: <code class="repro">{esc(check["repro"])}</code></p>')
    failed = [item for item in evidence.get("expectations") or [] if isinstance(item, dict) and not item.get("ok")]
    if failed:
        items = "".join(
            f"<li>{esc(item.get('what', ''))}"
            + (f" <span class='muted'>- {esc(item['detail'])}</span>" if item.get("detail") else "")
            + "</li>"
            for item in failed
        )
        parts.append(f"<p>unmet expectations:</p><ul>{items}</ul>")
    violations = evidence.get("violations") or []
    if violations:
        items = "".join(
            f"<li><code>{esc(v.get('rule', ''))}</code>: {esc(v.get('detail', ''))}</li>"
            if isinstance(v, dict)
            else f"<li>{esc(v)}</li>"
            for v in violations
        )
        parts.append(f"<p>violations:</p><ul>{items}</ul>")
    if evidence.get("stacks"):
        frames = "\n".join(native_frames(str(evidence["stacks"])))
        parts.append(f"<details><summary>native stacks (gdb)</summary>{_pre(frames)}</details>")
    if evidence.get("stderr_tail"):
        tail = "\n".join(str(evidence["stderr_tail"]).splitlines()[-60:])
        parts.append(f"<details><summary>plugin stderr (tail)</summary>{_pre(tail)}</details>")
    logs = evidence.get("logs") or []
    if logs:
        shown = "\n".join(_json_text(entry) if not isinstance(entry, str) else entry for entry in logs[:_MAX_LOGS])
        more = f"\n... {len(logs) - _MAX_LOGS} more" if len(logs) > _MAX_LOGS else ""
        parts.append(f"<details><summary>plugin logs ({len(logs)})</summary>{_pre(shown + more)}</details>")
    calls = evidence.get("calls") or []
    if calls:
        parts.append(f"<details><summary>calls into the plugin ({len(calls)})</summary>{_calls(calls)}</details>")
    rest = {k: v for k, v in evidence.items() if k not in ("calls", "stderr_tail", "stacks", "logs")}
    if rest:
        parts.append(f"<details><summary>evidence (JSON)</summary>{_pre(_json_text(rest))}</details>")
    return "".join(parts)


def _check(check: dict[str, Any]) -> str:
    problem = is_problem(check)
    return (
        f'<div class="check{" problem" if problem else ""}" id="check-{esc(check["id"])}" '
        f'data-check="{esc(check["id"])}" data-status="{esc(check["status"])}" data-problem="{1 if problem else 0}">'
        f"<details><summary>{badge(check['status'])}{baseline_badge(check.get('baseline'))} "
        f'<code>{esc(check["id"])}</code> <span class="muted">{esc(check["severity"])} - '
        f"{esc(duration(check.get('duration_s')))}</span> "
        f'<span class="msg">{esc(one_line(check["message"], 160))}</span></summary>'
        f'<div class="body">{_evidence(check)}</div></details></div>'
    )


def _categories(report: dict[str, Any]) -> str:
    groups: dict[str, list[dict[str, Any]]] = {}
    for check in report["checks"]:
        groups.setdefault(check["category"], []).append(check)
    sections = []
    for category, checks in groups.items():
        counts = Counter(check["status"] for check in checks)
        summary = ", ".join(f"{n} {status}" for status, n in counts.most_common())
        problems = any(is_problem(check) for check in checks)
        body = "".join(_check(check) for check in failures_first(checks))
        sections.append(
            f'<details class="category" id="category-{esc(category)}" data-category="{esc(category)}"'
            f'{" open" if problems else ""}><summary>{esc(category)} <span class="muted">({esc(summary)})</span>'
            f"</summary>{body}</details>"
        )
    if not sections:
        sections.append("<p>No check has a result.</p>")
    return (
        '<section id="checks"><h2>Checks by category</h2><div class="toolbar">'
        '<input type="search" id="filter" placeholder="filter checks (id, message, evidence)" aria-label="filter">'
        '<label><input type="checkbox" id="only-problems"> only problems</label>'
        '<button type="button" id="expand-all">expand all</button></div>' + "".join(sections) + "</section>"
    )


def _timing(report: dict[str, Any]) -> str:
    timed = sorted(report["checks"], key=lambda c: c.get("duration_s") or 0.0, reverse=True)
    timed = [check for check in timed if (check.get("duration_s") or 0) > 0][:_SLOWEST]
    if not timed:
        return '<section id="timing"><h2>Slowest checks</h2><p>No timings recorded.</p></section>'
    longest = max(check["duration_s"] for check in timed)
    label_w, bar_w, row_h = 330, 560, 22
    height = row_h * len(timed) + 4
    rows = []
    for index, check in enumerate(timed):
        y = index * row_h + 2
        width = max(1.0, bar_w * check["duration_s"] / longest)
        css = "bar problem" if is_problem(check) else "bar"
        rows.append(
            f'<g class="timing-row" data-check="{esc(check["id"])}">'
            f"<title>{esc(check['id'])}: {esc(duration(check['duration_s']))} ({esc(check['status'])})</title>"
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{esc(one_line(check["id"], 48))}</text>'
            f'<rect class="{css}" x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 6}" rx="3"></rect>'
            f'<text x="{label_w + width + 6:.1f}" y="{y + 15}">{esc(duration(check["duration_s"]))}</text></g>'
        )
    total = sum(check.get("duration_s") or 0.0 for check in report["checks"])
    return (
        f'<section id="timing"><h2>Slowest checks</h2><p class="muted">{len(timed)} slowest of '
        f"{len(report['checks'])}; all checks together took {esc(duration(total))} of sandbox time "
        "(they run in parallel).</p>"
        f'<svg role="img" aria-label="slowest checks" width="100%" viewBox="0 0 {label_w + bar_w + 90} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg></section>'
    )


def render_report(report: dict[str, Any]) -> str:
    """The whole report.html of one plugin, from its report.json dictionary."""
    title = f"{report['plugin']['name']}: {report['verdict'].upper()} - StreamKit conformance"
    body = (
        _banner(report)
        + "<main>"
        + _notes(report)
        + _matrix(report)
        + _failing(report)
        + _categories(report)
        + _timing(report)
        + f"<footer>Hosts v{ALL_HOSTS[0]}-v{ALL_HOSTS[-1]} judged by {esc(report['tool']['name'])} "
        f"{esc(report['tool']['version'])}; report schema {esc(report['schema_version'])}; "
        "data in report.json next to this file.</footer></main>"
    )
    return page(title, report["run"]["id"], body, FILTER_JS)
