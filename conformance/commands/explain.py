"""``conformance explain``: what a check verifies, why, typical causes, how to fix, and the sections it cites."""

from __future__ import annotations

import argparse

from conformance.abi_reference import render_cited
from conformance.commands.console import EXIT_OK, UsageProblem, say
from conformance.explain import explanation, render_text


def run(args: argparse.Namespace) -> int:
    try:
        found = explanation(args.check_id)
    except KeyError as error:
        raise UsageProblem(str(error.args[0]) if error.args else f"no check {args.check_id!r}") from None
    say(render_text(found))
    rule = "-" * 78
    say(f"\n{rule}\nThe cited sections (ABI reference shipped with the tool; docs/abi-reference.md)\n{rule}\n")
    say(render_cited(found.abi_ref))
    return EXIT_OK
