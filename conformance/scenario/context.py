"""What a scenario sees inside the sandbox child: the plugin, the event stream, budgets.

Scenarios are plain functions ``scenario(ctx) -> None``. They call into the
plugin only through ``ctx.call`` (directly or via the host objects), so every
call is announced before it starts and its budget is known to the server.

The host loads the plugin; the context only holds it. Whoever builds a
context (the sandbox child) hands it the host's loader, so this base layer
names the host's ``LoadedPlugin`` for typing only and never imports it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from conformance.budgets import budget_for
from conformance.scenario.events import (
    CallFinished,
    CallStarted,
    Event,
    Expect,
    Observed,
)
from conformance.scenario.protocol import ScenarioRequest

if TYPE_CHECKING:
    from conformance.host.loader import LoadedPlugin

T = TypeVar("T")

PluginLoader = Callable[[str, "ScenarioContext"], "LoadedPlugin"]


class ScenarioSkip(Exception):
    """Raised by a scenario when the check does not apply to this plugin.

    ``static``: decided by what cannot differ between processes (the plugin's table of entry points,
    the entry points triage saw wedge), never by what the plugin did before; such a skip taken in a
    shared child is the skip a child of its own would give (``battery.runner.run_shared``).
    """

    def __init__(self, reason: str, *, static: bool = False) -> None:
        super().__init__(reason)
        self.static = static


class Emitter:
    """Thread-safe event sink: plugin threads may log while the main thread calls."""

    def __init__(self, sink: Callable[[Event], None]) -> None:
        self._sink = sink
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._sink(event)


def thread_label() -> str:
    current = threading.current_thread()
    return f"{current.name}#{threading.get_native_id()}"


class ScenarioContext:
    """The per-scenario view of the child: request options, emitter and the loaded plugin."""

    def __init__(self, request: ScenarioRequest, emit: Callable[[Event], None], load_plugin: PluginLoader) -> None:
        self.request = request
        self.emit = emit
        self._load_plugin = load_plugin
        self._plugin: LoadedPlugin | None = None
        self._once: dict[str, Any] = {}

    @property
    def host_version(self) -> int:
        return self.request.host_version

    def option(self, name: str, default: Any = None) -> Any:
        return self.request.options.get(name, default)

    def budget(self, entry: str) -> float:
        return budget_for(entry, self.request.budget_scale)

    @property
    def plugin(self) -> LoadedPlugin:
        """The plugin, loaded on first use as the host loads it (constructors run here)."""
        if self._plugin is None:
            self._plugin = self._load_plugin(self.request.plugin_path, self)
        return self._plugin

    def once(self, key: str, make: Callable[[], T]) -> T:
        """``make()`` the first time ``key`` is asked for in this context, the same value after.

        The calls into the plugin that several checks judge go through here, so a joint run
        (``checks.joint``) makes them once and each member judges the same calls a run of its own makes.
        A ``make`` that raises leaves nothing behind.
        """
        if key not in self._once:
            self._once[key] = make()
        value: T = self._once[key]
        return value

    def call(self, entry: str, fn: Callable[..., T], *args: Any, detail: str = "") -> T:
        """Call into the plugin with its budget announced; returns what ``fn`` returns."""
        self._refuse_triaged(entry)
        thread = thread_label()
        self.emit(CallStarted(entry, self.budget(entry), detail, thread, threading.get_native_id()))
        started = time.perf_counter()
        result = fn(*args)
        self.emit(CallFinished(entry, time.perf_counter() - started, "", thread))
        return result

    def ensure_callable(self, entry: str) -> None:
        """Skip now, on this thread, if ``entry`` may not be called (a skip raised on a worker thread is lost)."""
        self._refuse_triaged(entry)

    def _refuse_triaged(self, entry: str) -> None:
        """Entry points that wedged on ordinary traffic during triage are not called again.

        Only the checks about that entry point call it (``triage_exempt``): they
        carry the stacks; the others are skipped, with the reason, because each
        wedge costs a whole budget. An entry point that *crashed* in triage is
        called as usual: a crash costs a child, not a budget, and the narrow
        checks that crash too (or pass) are what names the broken rule (each
        runs in a child of its own, see ``checks.isolation``).
        """
        options = self.request.options
        exempt = options.get("triage_exempt") or ()
        wedged = options.get("wedged") or {}
        if entry in wedged and f"wedged:{entry}" not in exempt:
            evidence = "load.dlopen" if entry == "dlopen" else "timeouts.*"
            raise ScenarioSkip(
                f"not run: {entry} did not return during triage ({wedged[entry]}); see {evidence} for the evidence",
                static=True,
            )

    def expect(self, ok: bool, what: str, detail: str = "", *, warn_only: bool = False) -> bool:
        self.emit(Expect(bool(ok), what, detail, warn_only))
        return bool(ok)

    def observe(self, key: str, value: Any = None) -> None:
        self.emit(Observed(key, value))

    def skip(self, reason: str, *, static: bool = False) -> NoReturn:
        raise ScenarioSkip(reason, static=static)


Scenario = Callable[[ScenarioContext], None]
