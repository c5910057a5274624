"""``conformance build-fixtures``: build the bundled fixture plugins (they ship with the source checkout only)."""

from __future__ import annotations

import argparse

from conformance.commands.console import EXIT_OK, UsageProblem, say
from conformance.fixtures import FIXTURE_ROOT, FixtureBuildError, build_fixtures


def run(args: argparse.Namespace) -> int:
    if not (FIXTURE_ROOT / "Cargo.toml").is_file():
        raise UsageProblem(
            "no fixture corpus here: it ships with the source checkout, not with the installed package "
            "(clone the repository and run this command there)"
        )
    try:
        built = build_fixtures()
    except FixtureBuildError as error:
        raise UsageProblem(str(error).splitlines()[0]) from None
    for name, path in sorted(built.items()):
        say(f"{name:28s} {path}")
    return EXIT_OK
