"""The page shell shared by report.html and index.html: one file, no network, no external assets.

Reports are opened from CI artifacts, often offline or behind a strict
Content-Security-Policy, so every page carries its own CSS and its few lines
of JavaScript inline, and works (minus filtering) with JavaScript disabled.
"""

from __future__ import annotations

import html
from functools import lru_cache

from conformance import __version__

CSS = """
:root { --pass:#1a7f37; --fail:#cf222e; --warn:#9a6700; --skip:#6e7781; --known:#8250df; --improved:#0969da;
  --bg:#ffffff; --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --soft:#f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --bg:#0d1117; --fg:#e6edf3; --muted:#9198a1; --line:#3d444d;
  --soft:#151b23; --pass:#3fb950; --fail:#f85149; --warn:#d29922; --known:#a371f7; --improved:#4493f8; } }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif; color:var(--fg); background:var(--bg); }
main { max-width: 1200px; margin: 0 auto; padding: 0 16px 48px; }
code, pre, .mono { font-family: ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size: 12.5px; }
pre { background:var(--soft); border:1px solid var(--line); border-radius:6px; padding:8px; overflow:auto;
  max-height: 420px; white-space: pre-wrap; word-break: break-word; }
h2 { margin: 28px 0 8px; font-size: 18px; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
a { color: var(--improved); }
.banner { padding: 18px 16px; color: #fff; }
.banner.pass { background: var(--pass); } .banner.fail { background: var(--fail); }
.banner.incomplete {
  background-image: repeating-linear-gradient(45deg, transparent 0 12px, rgba(0,0,0,.12) 12px 24px); }
.banner h1 { margin: 0 0 4px; font-size: 24px; }
.banner .sub { opacity: .95; }
.banner dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 10px 0 0; }
.banner dt { opacity: .85; } .banner dd { margin: 0; word-break: break-all; }
.note { border-left: 4px solid var(--warn); background: var(--soft); padding: 6px 10px; margin: 12px 0; }
.badge { display: inline-block; min-width: 64px; text-align: center; border-radius: 10px; padding: 0 8px;
  font-size: 11.5px; font-weight: 700; color: #fff; background: var(--skip); }
.s-pass { background: var(--pass); } .s-warn { background: var(--warn); } .s-skip { background: var(--skip); }
.s-fail, .s-crash, .s-timeout, .s-error, .s-flaky { background: var(--fail); }
.b-known { background: var(--known); } .b-new { background: var(--fail); } .b-improved { background: var(--improved); }
.compatible { color: var(--pass); font-weight: 600; } .incompatible { color: var(--fail); font-weight: 600; }
.na { color: var(--muted); }
.muted { color: var(--muted); }
details.category { border: 1px solid var(--line); border-radius: 6px; margin: 8px 0; }
details.category > summary { padding: 8px 12px; cursor: pointer; background: var(--soft); font-weight: 600; }
.check { border-top: 1px solid var(--line); }
.check > details > summary { padding: 6px 12px; cursor: pointer; list-style-position: inside; }
.check .body { padding: 4px 16px 12px 32px; }
.check .msg { color: var(--muted); }
.check.problem .msg { color: var(--fg); }
.check dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
.check dt { color: var(--muted); } .check dd { margin: 0; word-break: break-word; }
.toolbar { position: sticky; top: 0; background: var(--bg); padding: 8px 0; border-bottom: 1px solid var(--line);
  display: flex; gap: 16px; align-items: center; flex-wrap: wrap; z-index: 1; }
.toolbar input[type=search] { padding: 4px 8px; min-width: 260px; }
.hidden { display: none !important; }
svg text { fill: var(--fg); font-size: 12px; }
svg .bar { fill: var(--improved); } svg .bar.problem { fill: var(--fail); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"""

FILTER_JS = """
(function () {
  var box = document.getElementById('filter'), only = document.getElementById('only-problems');
  var expand = document.getElementById('expand-all');
  if (!box || !only) { return; }
  function apply() {
    var needle = box.value.trim().toLowerCase();
    document.querySelectorAll('[data-check]').forEach(function (row) {
      var text = (row.getAttribute('data-check') + ' ' + row.textContent).toLowerCase();
      var hide = (needle && text.indexOf(needle) < 0) || (only.checked && row.getAttribute('data-problem') !== '1');
      row.classList.toggle('hidden', !!hide);
    });
    document.querySelectorAll('details.category').forEach(function (group) {
      var visible = group.querySelectorAll('[data-check]:not(.hidden)').length;
      group.classList.toggle('hidden', visible === 0);
      if (needle && visible) { group.open = true; }
    });
  }
  box.addEventListener('input', apply);
  only.addEventListener('change', apply);
  if (expand) {
    expand.addEventListener('click', function () {
      var open = expand.getAttribute('data-open') !== '1';
      document.querySelectorAll('details').forEach(function (d) { d.open = open; });
      expand.setAttribute('data-open', open ? '1' : '0');
      expand.textContent = open ? 'collapse all' : 'expand all';
    });
  }
  apply();
  document.documentElement.setAttribute('data-js', 'ready');
})();
"""


def esc(value: object) -> str:
    if type(value) is str:
        return _escaped_text(value)
    return html.escape(str(value), quote=True)


@lru_cache(maxsize=4096)
def _escaped_text(text: str) -> str:
    """A report repeats its texts (entry points, threads, durations, statuses) thousands of times."""
    return html.escape(text, quote=True)


def badge(status: str) -> str:
    return f'<span class="badge s-{esc(status)}">{esc(status.upper())}</span>'


def baseline_badge(value: str | None) -> str:
    if not value:
        return ""
    return f' <span class="badge b-{esc(value)}" title="baseline">{esc(value.upper())}</span>'


def page(title: str, run_id: str, body: str, script: str = "") -> str:
    """A complete HTML document; the run id is in a meta tag so stale files can be told apart."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="conformance-run-id" content="{esc(run_id)}">\n'
        f'<meta name="generator" content="streamkit-conformance {esc(__version__)}">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n"
        + (f"<script>{script}</script>\n" if script else "")
        + "</body>\n</html>\n"
    )
