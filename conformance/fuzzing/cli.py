"""``python -m conformance.fuzzing``: write seeds and dictionaries, or minimise a finding."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from conformance.fuzzing.dictionaries import write_dictionaries
from conformance.fuzzing.intake_planner import intake_segments
from conformance.fuzzing.minimise import minimise
from conformance.fuzzing.paths import CORPUS_DIR, display_path
from conformance.fuzzing.seeds import write_seeds
from conformance.fuzzing.targets import TARGETS, load_target

USAGE = (
    "usage: python -m conformance.fuzzing seed [TARGET...]\n"
    "       python -m conformance.fuzzing minimize TARGET [--plugin P] INPUT [-o OUT]"
)


def _target_check(target: str, plugin: str | None) -> Callable[[bytes], None]:
    module = load_target(target)
    if target == "plugin_intake":
        if plugin is None:
            raise SystemExit("plugin_intake needs --plugin PLUGIN")
        module.configure(plugin)
    check: Callable[[bytes], None] = module.test_one_input
    return check


def seed(targets: Sequence[str]) -> int:
    for path in write_dictionaries():
        print(f"wrote {display_path(path)}")
    for target, count in write_seeds(targets or TARGETS).items():
        print(f"wrote {count} seeds to {display_path(CORPUS_DIR / target)}")
    return 0


def minimise_inputs(target: str, rest: list[str]) -> int:
    plugin: str | None = None
    output: str | None = None
    inputs: list[str] = []
    while rest:
        arg = rest.pop(0)
        if arg == "--plugin" and rest:
            plugin = rest.pop(0)
        elif arg == "-o" and rest:
            output = rest.pop(0)
        else:
            inputs.append(arg)
    check = _target_check(target, plugin)
    structure = intake_segments if target == "plugin_intake" else None
    for name in inputs:
        original = Path(name).read_bytes()
        smaller, signature = minimise(check, original, segments=structure)
        destination = Path(output) if output else Path(f"{name}.min")
        destination.write_bytes(smaller)
        print(
            f"{display_path(name)}: {len(original)} -> {len(smaller)} bytes, still {signature!r}: "
            f"{display_path(destination)}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``seed [TARGET...]``: rewrite corpora and dictionaries.
    ``minimize TARGET [--plugin P] INPUT [-o OUT]``: shrink a finding, keeping its signature."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["seed"]:
        return seed(args[1:])
    if args[:1] == ["minimize"] and len(args) >= 3:
        return minimise_inputs(args[1], args[2:])
    print(USAGE, file=sys.stderr)
    return 2
