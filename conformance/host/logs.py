"""The host's log and log-enabled callbacks (ABI.md 4.4, 4.15; HOST.md 2).

Both are process-wide cffi callbacks created once and kept alive for the
child's lifetime, because plugin loggers may be copied into plugin threads and
called at any time. Each call is recorded as a ``LogSeen`` event with the
thread, the plugin call in flight on that thread and whether every instance
had already been destroyed (a "late log").

The plugin is given the native guard's trampolines (``conformance.host.native_guard``),
which count calls that overlap on two threads before the interpreter lock is
taken. ABI.md 7 makes these two callbacks thread-safe, so an overlap is only
evidence (``LogBridge.overlapping_calls``), never a violation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.abi import ffi
from conformance.abi.constants import LogLevel
from conformance.host.memory import copy_text
from conformance.host.native_guard import native_guard
from conformance.host.per_scenario import PerScenario
from conformance.scenario.context import thread_label
from conformance.scenario.events import Event, LogSeen, Violation

MAX_RECORDED_LOGS = 2000

_current_call = threading.local()


def set_current_call(entry: str | None) -> None:
    _current_call.entry = entry


def current_call() -> str | None:
    return getattr(_current_call, "entry", None)


@dataclass
class LogState:
    """Counters and policy shared by the two callbacks."""

    emit: Callable[[Event], None]
    enabled_threshold: int = int(LogLevel.INFO)
    live_instances: int = 0
    destroyed_instances: int = 0
    recorded: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    enabled_queries: int = 0
    late_logs: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


#: The log levels a plugin may pass (listing the enum on every log costs more than the check).
_LEVELS = frozenset(int(level) for level in LogLevel)


def _decode(pointer: Any) -> tuple[str | None, str | None]:
    """(text, problem): a NULL pointer is (None, None); bad bytes give a problem."""
    if pointer == ffi().NULL:
        return None, None
    return copy_text(int(ffi().cast("uintptr_t", pointer)))


class LogBridge:
    """Owns the cffi callbacks and the state they record into."""

    def __init__(self, emit: Callable[[Event], None]) -> None:
        f = ffi()
        self.state = LogState(emit)
        self._python = (
            f.callback("CLogCallback", self._on_log),
            f.callback("CLogCallback", self._on_silent_log),
            f.callback("CLogEnabledCallback", self._on_enabled),
        )
        # What plugins are given: the guard's trampolines (forwarding to the callbacks above) when it loaded.
        self.log_callback, self.silent_log_callback, self.enabled_callback = self._python
        self._guard = native_guard()
        if self._guard is not None:
            guard = self._guard
            guard.set_log_targets(*(int(f.cast("uintptr_t", callback)) for callback in self._python))
            self.log_callback = f.cast("CLogCallback", guard.address("skg_log"))
            self.silent_log_callback = f.cast("CLogCallback", guard.address("skg_silent_log"))
            self.enabled_callback = f.cast("CLogEnabledCallback", guard.address("skg_enabled"))

    def overlapping_calls(self) -> int | None:
        """Log/log-enabled calls so far that overlapped another on a second thread (None: no native guard)."""
        return self._guard.log_overlaps() if self._guard is not None else None

    def _record(self, event: LogSeen) -> None:
        state = self.state
        with state.lock:
            state.recorded += 1
            if state.recorded > MAX_RECORDED_LOGS:
                return
        state.emit(event)

    def _late(self) -> bool:
        state = self.state
        return state.live_instances == 0 and state.destroyed_instances > 0

    def _on_log(self, level: int, target: Any, message: Any, user_data: Any) -> None:
        target_text, target_problem = _decode(target)
        message_text, message_problem = _decode(message)
        late = self._late()
        state = self.state
        with state.lock:
            state.count(f"level:{level}")
            if late:
                state.late_logs += 1
        if level not in _LEVELS:
            state.emit(
                Violation("logging.level", f"log level {level} is outside 0..4 (UB in the host)", current_call())
            )
        for name, problem in (("target", target_problem), ("message", message_problem)):
            if problem:
                state.emit(Violation(f"logging.{name}", f"log {name} is {problem}", current_call()))
        self._record(LogSeen(int(level), target_text, message_text, thread_label(), current_call(), late))

    def _on_silent_log(self, level: int, target: Any, message: Any, user_data: Any) -> None:
        """The probe instance's logger: the host discards these (HOST.md 1.1 step 7)."""
        with self.state.lock:
            self.state.count("probe")

    def _on_enabled(self, level: int, target: Any, user_data: Any) -> bool:
        target_text, _ = _decode(target)
        answer = int(level) >= self.state.enabled_threshold
        with self.state.lock:
            self.state.enabled_queries += 1
        self._record(LogSeen(int(level), target_text, None, thread_label(), current_call(), self._late(), True, answer))
        return answer


_bridge: PerScenario[LogBridge] = PerScenario(LogBridge)


def log_bridge(emit: Callable[[Event], None]) -> LogBridge:
    """The child's single bridge (its callbacks must outlive every instance)."""
    return _bridge.get(emit)


def retire_log_bridge() -> None:
    """The next scenario of a shared child gets a fresh bridge; the old callbacks stay alive."""
    _bridge.retire()
