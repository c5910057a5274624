"""``conformance list-checks``: the check catalogue, one line a check or as JSON."""

from __future__ import annotations

import argparse
import json

from conformance.checks.registry import catalogue
from conformance.commands.console import EXIT_OK, say


def run(args: argparse.Namespace) -> int:
    checks = catalogue()
    if args.json:
        rows = [
            {
                "id": c.id,
                "category": c.category,
                "severity": c.severity.value,
                "abi_ref": c.abi_ref,
                "rationale": c.rationale,
                "node_kinds": sorted(c.applies.node_kinds),
                "plugin_versions": [c.applies.min_version, c.applies.max_version],
                "host_sensitive": c.applies.host_sensitive,
                "needs": list(c.applies.needs),
                "budget_s": c.budget_s,
            }
            for c in checks
        ]
        say(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max(len(c.id) for c in checks)
    for c in checks:
        say(f"{c.id:<{width}}  {c.severity.value:<11}  {c.abi_ref}")
    say(f"{len(checks)} checks")
    return EXIT_OK
