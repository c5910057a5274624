"""How fast and how busy this machine is, measured once at start-up, and what that does to budgets.

Budgets (``conformance/budgets.py``) are sized for the reference machine: 2 cores, quiet. On a machine
that is much slower or much busier, the scheduler-aware deadlines (``deadlines.py``) already refuse to
call a merely starved call wedged; calibration covers what they cannot see (a slow CPU, slow forks, page
faults), by scaling every budget by a bounded factor. ``--budget-scale`` multiplies on top.

The measurement: a round trip through the fork server, and three runs of a fixed interpreter loop in a
sandbox child (its CPU time says how fast the CPU is; wall time over CPU time says how much of a CPU the
child got). It takes two children, about 0.03 s on the reference machine.

``CONFORMANCE_MACHINE_FACTOR`` fixes the factor instead (``1`` turns automatic scaling off); the xdist
controller sets it for its workers so that every worker uses the controller's measurement.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from conformance.scenario.events import Observed
from conformance.scenario.protocol import Outcome, SandboxResult, ScenarioRequest

#: CPU time of the calibration loop and round trip of an empty scenario on the reference machine.
REFERENCE_LOOP_CPU_S = 0.0075
REFERENCE_ROUND_TRIP_S = 0.004
LOOP_ITERATIONS = 100_000
#: Budgets are scaled only when the machine is at least this much slower than the reference ...
SLOW_AT = 2.0
#: ... and never by more than this.
MAX_AUTO_SCALE = 3.0
FACTOR_VARIABLE = "CONFORMANCE_MACHINE_FACTOR"
_MEASUREMENT_VARIABLE = "CONFORMANCE_CALIBRATION"  # the measurement itself, for xdist workers' reports
_SAMPLES = 3


@dataclass(frozen=True)
class Calibration:
    """One measurement of the machine, and the budget factor it implies."""

    round_trip_s: float
    loop_cpu_s: float
    loop_wall_s: float
    factor: float
    source: str  # "measured", or where a fixed factor came from

    @property
    def slowness(self) -> float:
        """How much longer than on the reference machine work takes here (CPU speed times contention)."""
        if self.loop_cpu_s <= 0:
            return 1.0
        return (self.loop_cpu_s / REFERENCE_LOOP_CPU_S) * (self.loop_wall_s / self.loop_cpu_s)

    def to_json(self) -> dict[str, Any]:
        return {
            "round_trip_ms": round(self.round_trip_s * 1000, 2),
            "loop_cpu_ms": round(self.loop_cpu_s * 1000, 2),
            "loop_wall_ms": round(self.loop_wall_s * 1000, 2),
            "reference_round_trip_ms": REFERENCE_ROUND_TRIP_S * 1000,
            "reference_loop_cpu_ms": REFERENCE_LOOP_CPU_S * 1000,
            "slowness": round(self.slowness, 2),
            "budget_factor": round(self.factor, 2),
            "max_budget_factor": MAX_AUTO_SCALE,
            "source": self.source,
        }

    def headline(self) -> str:
        """One line for the terminal and the report header."""
        text = (
            f"machine calibration: empty scenario {self.round_trip_s * 1000:.1f} ms (reference "
            f"{REFERENCE_ROUND_TRIP_S * 1000:.0f}), CPU loop {self.loop_cpu_s * 1000:.1f} ms CPU in "
            f"{self.loop_wall_s * 1000:.1f} ms (reference {REFERENCE_LOOP_CPU_S * 1000:.1f})"
        )
        if self.factor > 1.0:
            text += (
                f": this machine is {self.slowness:.1f}x slower than the reference, so budgets are scaled by "
                f"{self.factor:.2f} (at most {MAX_AUTO_SCALE:g}; --budget-scale multiplies on top)"
            )
        return text


def factor_for(slowness: float) -> float:
    return min(MAX_AUTO_SCALE, slowness) if slowness >= SLOW_AT else 1.0


def measure(run: Callable[[ScenarioRequest], SandboxResult]) -> Calibration | None:
    """Measure with ``run`` (a sandbox client's); None when the sandbox could not run the scenarios.

    Two children: an empty scenario that warms the server up (its time is not taken), then one that runs the
    loop ``_SAMPLES`` times. The round trip is that child's time less its loops. (Three children of each kind
    measured the same figures at three times the cost, on the critical path of every run.)
    """
    if run(ScenarioRequest("selftest.empty", "", capture_stacks=False)).outcome is not Outcome.COMPLETED:
        return None
    started = time.monotonic()
    loop = run(
        ScenarioRequest(
            "selftest.cpu-loop", "", capture_stacks=False, options={"iterations": LOOP_ITERATIONS, "repeats": _SAMPLES}
        )
    )
    elapsed = time.monotonic() - started
    if loop.outcome is not Outcome.COMPLETED:
        return None
    observed = {event.key: event.value for event in loop.events if isinstance(event, Observed)}
    cpu = [float(value) for value in observed["cpu_s"]]
    wall = [float(value) for value in observed["wall_s"]]
    trip = max(0.0, elapsed - sum(wall))
    measured = Calibration(trip, statistics.median(cpu), statistics.median(wall), 1.0, "measured")
    return replace(measured, factor=factor_for(measured.slowness))


_current: Calibration | None = None


def adopt(calibration: Calibration) -> None:
    """Make ``calibration`` this process's (and its future children's): its factor applies from now on."""
    global _current
    _current = calibration
    os.environ[FACTOR_VARIABLE] = f"{calibration.factor:.4f}"
    os.environ[_MEASUREMENT_VARIABLE] = json.dumps(
        [calibration.round_trip_s, calibration.loop_cpu_s, calibration.loop_wall_s, calibration.source]
    )


def calibrate_once(run: Callable[[ScenarioRequest], SandboxResult]) -> Calibration | None:
    """The process's calibration: inherited, fixed by the environment, or measured now with ``run``."""
    found = current()
    if found is not None:
        return found
    fixed = os.environ.get(FACTOR_VARIABLE)
    if fixed is not None:
        calibration = Calibration(0.0, 0.0, 0.0, machine_factor(), f"fixed by {FACTOR_VARIABLE}={fixed}")
    else:
        measured = measure(run)
        if measured is None:
            return None
        calibration = measured
    adopt(calibration)
    return calibration


def current() -> Calibration | None:
    """This process's calibration, or the one the xdist controller measured for it."""
    global _current
    if _current is None and _MEASUREMENT_VARIABLE in os.environ:
        try:
            trip, cpu, wall, source = json.loads(os.environ[_MEASUREMENT_VARIABLE])
            _current = Calibration(float(trip), float(cpu), float(wall), machine_factor(), str(source))
        except (ValueError, TypeError):
            return None
    return _current


def machine_factor() -> float:
    """The factor every budget is multiplied by in this process (1 until calibrated)."""
    value = os.environ.get(FACTOR_VARIABLE)
    if value is None:
        return 1.0
    try:
        factor = float(value)
    except ValueError:
        return 1.0
    return min(MAX_AUTO_SCALE, max(1.0, factor))
