"""``conformance diff``: compare two report.json files; a check that got worse or newly fails is exit 1."""

from __future__ import annotations

import argparse

from conformance.commands.console import EXIT_CHECK_FAILED, EXIT_OK, UsageProblem, say
from conformance.report.diff import ReportReadError, compare_reports, load_report, render_diff


def run(args: argparse.Namespace) -> int:
    try:
        old, new = load_report(args.old), load_report(args.new)
    except ReportReadError as error:
        raise UsageProblem(str(error)) from None
    difference = compare_reports(old, new)
    say(render_diff(difference))
    return EXIT_CHECK_FAILED if difference.regressions else EXIT_OK
