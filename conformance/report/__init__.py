"""Reports: what is made of the results (``checks.result.CheckResult``) at the end of a run.

* ``model``: a plugin's verdict and grade;
* ``writer``: report.json per plugin (shape fixed by ``report.schema.json``, see ``schema``) and the
  orchestration of every file of a run, written atomically;
* ``rundir``: run ids, and removing files an earlier run left in the same directory;
* ``html_report``/``html_index``/``html_common``: self-contained report.html per plugin and index.html;
* ``markdown``: summary.md for CI job summaries and PR comments; ``present``: rules both renderers share;
* ``text``: the failure text of pytest (and so of JUnit) and the CLI;
* ``terminal``: the summary `conformance check` prints (grouped causes, repro and explain lines, totals);
* ``diff``: comparing two report.json files; ``interrupt``: SIGTERM as an interruption that still reports.
"""
