"""A battery item's run protocol: the reports pytest's would make, without pytest's per-phase machinery.

pytest runs an item in three phases (setup, call, teardown), each a hook call
wrapped by output capture, log capture, the skip and xfail marks, the fixtures'
setup state, the unraisable-exception checks, and a report made by a hook of its
own: about 1.1 ms of the 1.3 ms a battery item cost the pytest process, and the
fixture corpus is 16,500 items. A battery item uses none of it: it has no
fixtures and no skip or xfail mark, and its check runs in a sandbox child, so
nothing it does prints or logs in this process. ``run_battery_item`` makes the
three reports itself (same outcome, longrepr, user properties, keywords and
location) and hands them to the same hooks in the same order
(``pytest_runtest_logstart``, ``pytest_runtest_logreport`` per phase,
``pytest_exception_interact`` for a failure, ``pytest_runtest_logfinish``), so the
terminal, ``--junitxml``, ``-x``/``--maxfail``, the xdist worker and the hook
wrappers around ``pytest_runtest_protocol`` (pytest-timeout, warnings) see what
they saw before.

``BatteryProtocol.fits`` sends an item through pytest's own protocol whenever that
does not hold: a plugin or conftest that implements a phase hook, a mark a
conftest added, ``--pdb``/``--trace``/``--setup-*``, pytest-timeout's
``func_only``, a fixture set up by an earlier item, an unraisable or thread
exception waiting to be reported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
from _pytest import timing
from _pytest.outcomes import Exit
from _pytest.runner import CallInfo, check_interactive_exception

from conformance.checks.model import Status
from conformance.pytest_face.items import CheckFailed, CheckItem, skip_item

#: The plugins (pytest's names) whose phase hooks a battery item can do without: see the module's docstring.
KNOWN_PHASE_PLUGINS = frozenset(
    {
        "runner",  # the setup state (no fixtures) and PYTEST_CURRENT_TEST (set here too)
        "capturemanager",  # captured output: a battery item prints nothing in this process
        "logging-plugin",  # captured logs: likewise
        "skipping",  # skip and xfail marks: a battery item carries none (``fits``)
        "threadexception",  # reported by pytest's protocol whenever one is waiting (``fits``)
        "unraisableexception",  # likewise
        "timeout",  # its phase hook acts only with func_only (``usable``); its protocol wrapper still runs
        "hypothesispytest",  # acts on hypothesis tests only
        "unittest",  # acts on unittest cases only
        "tmpdir",  # keeps reports for the tmp_path fixture, which no battery item uses
    }
)
PHASE_HOOKS = ("pytest_runtest_setup", "pytest_runtest_call", "pytest_runtest_teardown", "pytest_runtest_makereport")
#: Options under which a person steps through phases (a debugger, the fixtures' setup shown or planned).
INTERACTIVE_OPTIONS = ("usepdb", "trace", "setuponly", "setupshow", "setupplan")
CURRENT_TEST = "PYTEST_CURRENT_TEST"


class BatteryProtocol:
    """Decides which items take the short protocol, and runs them."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._usable: bool | None = None
        self._hooks: dict[Path, Any] = {}
        #: The skip report's longrepr per message: the battery's few hundred reasons, thousands of times each.
        self._skips: dict[str, tuple[str, int, str]] = {}
        self._waiting: list[Any] = []

    def usable(self) -> bool:
        """Whether this run allows the short protocol at all (decided at the first item, after collection)."""
        if self._usable is None:
            self._usable = self._decide()
        return self._usable

    def _decide(self) -> bool:
        config = self.config
        if os.environ.get("CONFORMANCE_SHORT_PROTOCOL", "1") == "0":
            return False
        self._waiting = _waiting_exceptions(config)
        if any(config.getoption(name, False) for name in INTERACTIVE_OPTIONS):
            return False
        if getattr(config, "_env_timeout_func_only", False):  # pytest-timeout's setting, read at its configure
            return False
        manager = config.pluginmanager
        for name in PHASE_HOOKS:
            for implementation in getattr(manager.hook, name).get_hookimpls():
                if manager.get_name(implementation.plugin) not in KNOWN_PHASE_PLUGINS:
                    return False
        return True

    def fits(self, item: pytest.Item) -> bool:
        """Whether ``item`` is a battery item that pytest's protocol would run exactly as the short one."""
        return (
            isinstance(item, CheckItem)
            and self.usable()
            and len(item.own_markers) == item.battery_marks
            and not _marked_above(item)
            and not item.session._setupstate.stack
            and not any(self._waiting)
        )

    def _hook(self, item: pytest.Item) -> Any:
        """``item.ihook``, which pytest builds anew at every access, once per path (collection is over)."""
        hook = self._hooks.get(item.path)
        if hook is None:
            hook = self._hooks[item.path] = item.ihook
        return hook

    def run(self, item: CheckItem) -> None:
        """Run ``item`` and report its three phases as pytest's ``runtestprotocol`` does."""
        ihook = self._hook(item)
        nodeid, location = item.nodeid, item.location
        ihook.pytest_runtest_logstart(nodeid=nodeid, location=location)
        keywords: dict[str, Literal[1]] = dict.fromkeys(item.keywords, 1)
        os.environ[CURRENT_TEST] = f"{nodeid} (call)"
        setup = timing.Instant()
        ihook.pytest_runtest_logreport(report=_report(item, keywords, "setup", setup, "passed", None))
        call, report = self._call(item, keywords)
        ihook.pytest_runtest_logreport(report=report)
        if call is not None and check_interactive_exception(call, report):
            ihook.pytest_exception_interact(node=item, call=call, report=report)
        teardown = timing.Instant()
        ihook.pytest_runtest_logreport(report=_report(item, keywords, "teardown", teardown, "passed", None))
        os.environ.pop(CURRENT_TEST, None)
        ihook.pytest_runtest_logfinish(nodeid=nodeid, location=location)

    def _call(
        self, item: CheckItem, keywords: dict[str, Literal[1]]
    ) -> tuple[CallInfo[None] | None, pytest.TestReport]:
        """The call phase's report, and its CallInfo when it raised (for ``pytest_exception_interact``).

        A pass or a skip is made directly; a failure, or anything raised, goes through pytest's
        ``TestReport.from_item_and_call`` as before (a few hundred of the corpus's items).
        """
        start = timing.Instant()
        try:
            result, fails = item.run_check()
            if fails:
                raise CheckFailed(result)
        except BaseException:  # as CallInfo.from_call: everything but the two that end the run
            excinfo = pytest.ExceptionInfo.from_current()
            if isinstance(excinfo.value, Exit | KeyboardInterrupt):
                raise
            if isinstance(excinfo.value, Exception):  # as pytest_runtest_call keeps it for post-mortem debugging
                sys.last_type, sys.last_value, sys.last_traceback = type(excinfo.value), excinfo.value, excinfo.tb
            elapsed = start.elapsed()
            call: CallInfo[None] = CallInfo(
                None, excinfo, elapsed.start.time, elapsed.stop.time, elapsed.seconds, "call", _ispytest=True
            )
            return call, pytest.TestReport.from_item_and_call(item, call)
        if result.status is Status.SKIP:
            return None, _report(item, keywords, "call", start, "skipped", self.skip_longrepr(result.message))
        return None, _report(item, keywords, "call", start, "passed", None)

    def skip_longrepr(self, message: str) -> tuple[str, int, str]:
        """What ``TestReport.from_item_and_call`` makes of ``skip_item(message)``: learnt from it, once per message."""
        longrepr = self._skips.get(message)
        if longrepr is None:
            try:
                skip_item(message)
            except pytest.skip.Exception:
                crash = pytest.ExceptionInfo.from_current()._getreprcrash()
                assert crash is not None
                longrepr = self._skips[message] = (str(crash.path), crash.lineno, crash.message)
        return longrepr


def _report(
    item: CheckItem,
    keywords: dict[str, Literal[1]],
    when: Literal["setup", "call", "teardown"],
    start: timing.Instant,
    outcome: Literal["passed", "skipped"],
    longrepr: tuple[str, int, str] | None,
) -> pytest.TestReport:
    elapsed = start.elapsed()
    return pytest.TestReport(
        item.id,
        item.location,
        dict(keywords),
        outcome,
        longrepr,
        when,
        [],
        elapsed.seconds,
        elapsed.start.time,
        elapsed.stop.time,
        user_properties=item.user_properties,
    )


def _marked_above(item: pytest.Item) -> bool:
    """A mark on a collector above the item (the battery puts none there)."""
    node = item.parent
    while node is not None:
        if node.own_markers:
            return True
        node = node.parent
    return False


def _waiting_exceptions(config: pytest.Config) -> list[Any]:
    """The queues of unraisable and thread exceptions pytest reports at the next phase hook."""
    queues = []
    for module in ("_pytest.unraisableexception", "_pytest.threadexception"):
        imported = sys.modules.get(module)
        key = getattr(imported, "unraisable_exceptions", None) or getattr(imported, "thread_exceptions", None)
        if key is not None and key in config.stash:
            queues.append(config.stash[key])
    return queues
