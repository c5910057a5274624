"""The ``conformance`` command line: the parser, the dispatch to one command's module, the exit codes.

Exit codes (documented in the README): 0 every required check passed; 1 a
required check failed; 2 usage error or plugin not loadable; 3 internal error
of the tool. Bad input gets one line on stderr, never a traceback.

Each command lives in ``conformance.commands.<name>`` (``list-checks`` in
``list_checks``) with ``run(args) -> int``. Only the given command's module is
imported, in ``_command``: ``--help``, ``explain`` and ``list-checks`` stay fast
because they never import pytest, the sandbox client or the battery that
``check`` and ``repro`` need. This module imports only what the parser needs, and what
starts the sandbox's zygote for ``check`` before that command's imports.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from conformance import __version__
from conformance.abi.constants import SUPPORTED_VERSIONS
from conformance.commands.console import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageProblem


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one line on stderr (``conformance: ...``) and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageProblem(f"{message} (see `{self.prog} --help`)")


def _jobs(value: str) -> str:
    if value == "auto":
        return value
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a number of workers nor 'auto'") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"{count}: the number of workers must be at least 1")
    return str(count)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="conformance", description="StreamKit native plugin ABI conformance")
    parser.add_argument(
        "--version",
        action="version",
        version=f"streamkit-conformance {__version__} (plugin ABI v{SUPPORTED_VERSIONS[0]}-v{SUPPORTED_VERSIONS[-1]})",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser(
        "check",
        help="run the battery on one or more plugins",
        description="Options left out come from CONFORMANCE_* environment variables, then from the conformance_* "
        "settings of the pytest ini file (pytest.ini, pyproject.toml, tox.ini, setup.cfg), as with pytest --plugin.",
    )
    check.add_argument(
        "plugins", nargs="*", type=Path, metavar="PATH", help="plugin shared objects (or CONFORMANCE_PLUGIN)"
    )
    check.add_argument("--report-dir", help="where reports go (default: reports)")
    check.add_argument("--baseline", help="TOML file of accepted failures")
    check.add_argument("--budget-scale", help="multiply every time budget (slow CI: 2 or 3)")
    check.add_argument("--reruns", help="re-run a failed check this many times (default 1)")
    check.add_argument(
        "--race", nargs="?", const="helgrind", help="run the threading scenario under helgrind (default) or drd"
    )
    check.add_argument("--memcheck", action="store_true", help="re-run failing leak and memory checks under memcheck")
    check.add_argument("--shard", help="check only shard I of N (e.g. 2/3) of the plugins (CI matrices)")
    check.add_argument("--shard-durations", help="report directory of an earlier run: balance shards by its times")
    check.add_argument("-j", "--jobs", type=_jobs, default="1", help="parallel workers (pytest-xdist), or 'auto'")
    check.add_argument("-k", dest="keyword", help="only checks matching this pytest -k expression")
    check.add_argument("-m", dest="markexpr", help="only checks matching this pytest -m expression (e.g. required)")

    repro = commands.add_parser("repro", help="re-run one check on one plugin and print the result")
    repro.add_argument("plugin", type=Path)
    repro.add_argument(
        "check_id", help="check id (a host-sensitive check runs at every host version), or an item id with [vN]"
    )
    repro.add_argument(
        "--in-process", action="store_true", help="run in this process (for a debugger; a crash ends it)"
    )
    repro.add_argument("--trace", action="store_true", help="print every call and callback event")
    repro.add_argument(
        "--memcheck",
        action="store_true",
        help="run the check under valgrind memcheck and print its findings inside the plugin",
    )
    repro.add_argument("--budget-scale", type=float, default=1.0)

    listing = commands.add_parser("list-checks", help="print the check catalogue")
    listing.add_argument("--json", action="store_true")

    commands.add_parser("build-fixtures", help="build the bundled fixture plugins (source checkout only)")

    explain = commands.add_parser("explain", help="explain a check: what, why, typical causes, how to fix")
    explain.add_argument("check_id")

    merge = commands.add_parser(
        "merge",
        help="combine the report directories of shards (--shard I/N) into one: index, summary, JUnit, gate verdict",
    )
    merge.add_argument("shards", nargs="+", type=Path, metavar="DIR", help="a shard's report directory")
    merge.add_argument("--out", type=Path, required=True, help="the merged report directory (new or empty)")

    diff = commands.add_parser(
        "diff", help="compare two report.json files: exit 1 when a check got worse or a new check fails"
    )
    diff.add_argument("old", type=Path, metavar="OLD.json")
    diff.add_argument("new", type=Path, metavar="NEW.json")
    return parser


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    """The ``run`` of the command's own module, imported now: the one place a command's dependencies load."""
    module = importlib.import_module(f"conformance.commands.{name.replace('-', '_')}")
    run: Callable[[argparse.Namespace], int] = module.run
    return run


def main(argv: list[str] | None = None) -> int:
    command = ""
    try:
        args = _parser().parse_args(argv)
        command = args.command
        if command == "check":
            # Imported here: the light commands load nothing of the battery. The sandbox's zygote boots
            # while ``check`` imports pytest and the battery.
            from conformance.pytest_face.startup import boot_sandbox_early

            boot_sandbox_early(args.plugins)
        return _command(command)(args)
    except UsageProblem as problem:
        print(f"conformance: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # `check` gets here only before its battery started (pytest handles Ctrl-C during the run).
        print(f"conformance: interrupted{'; no report was written' if command == 'check' else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # only from a write outside console.say; the command's own status is unknown here
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - swallow the flush at exit
        return EXIT_OK
    except Exception as error:  # noqa: BLE001 - the documented "internal error" exit
        print(
            f"conformance: internal error: {type(error).__name__}: {error} "
            "(please report this with the command you ran)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
