"""Keep a ``pytest --plugin=…`` run from paying for other plugins' source and for garbage collection on every start.

pytest rewrites the asserts of every module of every distribution that declares
a ``pytest11`` entry point (hypothesis, pytest-xdist, pytest-timeout, this tool),
and caches the result only where it may write byte code. With
``PYTHONDONTWRITEBYTECODE=1``, the environment CI has, hypothesis alone (about 90
modules, imported by its plugin's terminal summary) was parsed, rewritten and
compiled at every run: about 1 s of a 3 s battery. Those modules hold library
code, not tests; their asserts gain nothing from rewriting. So, only when Python
writes no byte code, the marks pytest set for installed plugins are dropped and
those modules load from the byte code their installer wrote. Test files,
``conftest.py`` and ``pytest.register_assert_rewrite`` calls are untouched.

The battery's start-up (the catalogue, the sandbox client, the report modules)
builds some 45,000 objects that live as long as the run and makes almost no
garbage, yet the collector traversed them about 140 times: 0.1 s of the pytest
process's 1.1 s of CPU. ``collection_paused`` keeps the collector off while the
battery starts and then freezes what start-up built, as the fork servers do, so
the run's collections and the one pytest makes at exit see only the run's objects.

The fork servers are forks of one zygote (``sandbox.zygote``), whose boot (the
interpreter, the catalogue, the cffi declarations: about 0.45 s of CPU) every
item waits for. ``boot_sandbox_early`` starts it before the battery's own imports,
so it boots on the other core while this process imports and collects.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line boots the sandbox early too, before it imports pytest
    import pytest

_HYPOTHESIS_PLUGIN = "hypothesispytest"
#: The generation a full collection collects.
_OLDEST_GENERATION = len(gc.get_threshold()) - 1
_ELF_MAGIC = b"\x7fELF"


def keep_installed_plugins_compiled() -> None:
    """Drop the assert-rewrite marks of installed plugin distributions when byte code is not written."""
    if not sys.dont_write_bytecode:
        return
    for finder in sys.meta_path:
        marks = getattr(finder, "_must_rewrite", None)
        # pytest's AssertionRewritingHook; a private set, so anything unexpected leaves it alone.
        if type(finder).__name__ == "AssertionRewritingHook" and isinstance(marks, set):
            marks.difference_update({name for name in marks if not name.startswith("conftest")})


def drop_idle_hypothesis_plugin(config: pytest.Config) -> None:
    """Unregister hypothesis's pytest plugin when the collected session holds no hypothesis test.

    Its terminal summary imports the whole of hypothesis (0.2 s and more) to look
    for output of hypothesis tests; with ``hypothesis`` never imported by the end
    of collection there are none, so the summary has nothing to say.
    """
    if "hypothesis" in sys.modules:
        return
    plugin = config.pluginmanager.get_plugin(_HYPOTHESIS_PLUGIN)
    if plugin is not None:
        config.pluginmanager.unregister(plugin)


@contextmanager
def collection_paused() -> Iterator[None]:
    """No garbage collection inside the block; what exists at its end moves to the permanent generation."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


class SurvivorFreezer:
    """After each full collection of the run, what survived it moves to the permanent generation.

    A corpus run keeps what it builds until the reports are written: the items, pytest's reports, the
    payloads. The collector's rule for a full collection (a quarter more long-lived objects than the last
    one left) fires as they accumulate, and each full collection walked all of them again: 11 over the
    97-fixture corpus and its 16,647 items, 1.7 s of this process's CPU, the run's dispatch stalled
    behind each (2026-12-04). Frozen when a full collection ends, when none of them is garbage, the next
    one walks only what came since: 0.6 s. The cadence is unchanged. The cost: a cycle among the frozen
    that becomes garbage later is never collected, and the run keeps these objects to its end anyway.
    Only for a run of the battery alone: tests of the user's beside it may count on the collector.
    """

    def __init__(self) -> None:
        self.freezes = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info.get("generation") == _OLDEST_GENERATION:
            gc.freeze()
            self.freezes += 1

    def start(self) -> None:
        """From the next full collection on (start-up's objects are frozen already: ``collection_paused``)."""
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def stop(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


def boot_sandbox_early(plugins: Sequence[Path]) -> None:
    """Start the zygote of the fork servers now, before the battery's imports, unless no plugin can run.

    Every process that checks a plugin uses the sandbox (the xdist controller too, to calibrate and
    probe), so an early start is in vain only when the run then stops on a usage error (a bad baseline
    or report directory, an ELF file that is no loadable library): the zygote is stopped at exit. The
    magic bytes rule out the common refusal (a text file, a missing file); the plugins are checked
    fully later (``session.start_session``, ``commands.check``).
    """
    if not plugins or not all(_looks_like_elf(path) for path in plugins):
        return
    # Imported here: a pytest run without a plugin never loads the sandbox.
    from conformance.sandbox.spawner import start_zygote
    from conformance.scenario.lookup import CATALOGUE_LOOKUP

    start_zygote(CATALOGUE_LOOKUP)


def _looks_like_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_ELF_MAGIC)) == _ELF_MAGIC
    except OSError:
        return False
