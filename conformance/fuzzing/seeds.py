"""Seed corpora: each target's ``seed_inputs()``, starting from what the battery sends."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from conformance.checks import wire_in
from conformance.checks.traffic import sample_for
from conformance.fuzzing.paths import CORPUS_DIR
from conformance.fuzzing.targets import TARGETS, load_target
from conformance.host.packets import Packet
from conformance.host.wire import RUNTIME_PACKET_TYPES, RawWire


def battery_packets() -> list[tuple[str, Packet | RawWire]]:
    """What the battery sends: wire-in's legal and malformed cases (as a v9 host) and the traffic samples."""
    cases: list[tuple[str, Packet | RawWire]] = []
    for case in wire_in.LEGAL + wire_in.MALFORMED:
        packet = case.packet(9) if callable(case.packet) else case.packet
        cases.append((case.suffix, packet))
    for kind in sorted(RUNTIME_PACKET_TYPES):
        sample = sample_for(int(kind))
        if sample is not None:
            cases.append((f"traffic.{kind.name.lower()}", sample))
    return cases


def write_seeds(targets: Iterable[str] = TARGETS) -> dict[str, int]:
    """Replace each target's seed corpus with what its ``seed_inputs()`` returns (one file per distinct input)."""
    counts = {}
    for target in targets:
        module = load_target(target)
        seeds: dict[str, tuple[str, bytes]] = {}
        for label, data in module.seed_inputs():
            seeds.setdefault(hashlib.sha1(data).hexdigest()[:12], (label, data))
        directory = CORPUS_DIR / target
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.iterdir():
            if old.is_file():
                old.unlink()
        for digest, (label, data) in seeds.items():
            slug = "".join(c if c.isalnum() or c in "-." else "-" for c in label)[:40]
            (directory / f"{slug}-{digest}").write_bytes(data)
        counts[target] = len(seeds)
    return counts
