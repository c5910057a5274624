"""Keep a ``pytest --plugin=…`` run from paying for other plugins' source on every start.

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
"""

from __future__ import annotations

import sys

import pytest

_HYPOTHESIS_PLUGIN = "hypothesispytest"


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
