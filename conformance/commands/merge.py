"""``conformance merge``: combine the report directories of shards into one, with one gate verdict."""

from __future__ import annotations

import argparse

from conformance.commands.console import EXIT_CHECK_FAILED, EXIT_OK, UsageProblem, say
from conformance.report.merge import MergeError, merge_runs


def run(args: argparse.Namespace) -> int:
    try:
        merged = merge_runs(list(args.shards), args.out)
    except MergeError as error:
        raise UsageProblem(str(error)) from None
    failing = [report["plugin"]["name"] for report in merged.reports if report.get("verdict") == "fail"]
    verdict = f"; gate {merged.gate.state}" if merged.gate is not None else ""
    say(
        f"merged {len(args.shards)} shards: {len(merged.reports)} plugins, {len(failing)} failing{verdict}; "
        f"{args.out / 'index.html'}"
    )
    if merged.gate is not None:
        for line in merged.gate.problems[:50]:
            say(f"  {line}")
    return EXIT_CHECK_FAILED if merged.failed else EXIT_OK
