"""A battery run does not pay for other pytest plugins' source: conformance/pytest_face/startup.py."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.pytest_face.startup import SurvivorFreezer, boot_sandbox_early, collection_paused

#: Loaded by pytest from the run's directory: was hypothesis imported, and by which loader is it loaded.
PROBE = """
import gc
import sys

def pytest_sessionfinish(session):
    print("FREEZER", any(type(callback).__name__ == "SurvivorFreezer" for callback in gc.callbacks))

def pytest_unconfigure(config):
    print("HYPOTHESIS", "hypothesis" in sys.modules)
    import hypothesis
    print("LOADER", type(hypothesis.__loader__).__name__)
"""


def _run(tmp_path: Path, *args: str) -> str:
    """pytest in ``tmp_path`` with the environment CI has (no byte code written)."""
    (tmp_path / "conftest.py").write_text(PROBE)
    environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", *args]
    done = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, check=False)
    assert done.returncode in (0, 5), done.stdout[-2000:] + done.stderr[-2000:]  # 5: nothing collected
    return done.stdout


def test_installed_plugins_load_compiled_and_hypothesis_stays_out(
    tmp_path: Path, fixture_so: Callable[[str], Path]
) -> None:
    plugin = fixture_so("conforming_processor")
    output = _run(tmp_path, f"--plugin={plugin}", "-k", "lifecycle.create-destroy")
    assert "LOADER SourceFileLoader" in output  # not pytest's AssertionRewritingHook
    assert "HYPOTHESIS False" in output
    assert "FREEZER True" in output  # a battery run alone freezes the survivors of full collections


def test_without_the_tool_pytest_rewrites_them(tmp_path: Path) -> None:
    """The control: the probe tells the two apart."""
    output = _run(tmp_path, "-p", "no:streamkit_conformance")
    assert "HYPOTHESIS True" in output  # its plugin's terminal summary imports it
    assert "LOADER AssertionRewritingHook" in output


def test_start_up_collects_no_garbage_and_freezes_what_it_built() -> None:
    """conformance/pytest_face/startup.py: the collector is off during the block, back on after it."""
    kept = [[index] for index in range(1000)]
    frozen_before = gc.get_freeze_count()
    try:
        with collection_paused():
            assert not gc.isenabled()
            built = [[index] for index in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(kept) + len(built)
    finally:
        gc.unfreeze()


class _Node:
    """An object in a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.itself = self


def test_a_full_collection_freezes_its_survivors_and_only_a_full_one() -> None:
    node = _Node()
    freezer = SurvivorFreezer()
    freezer.start()
    try:
        gc.collect(1)
        assert freezer.freezes == 0
        gc.collect()
        assert freezer.freezes == 1
        assert not any(item is node for generation in range(3) for item in gc.get_objects(generation))
        collected = weakref.ref(node)
        del node
        gc.collect()
        assert collected() is not None  # frozen: what the freezer trades for the walks it saves
    finally:
        freezer.stop()
        gc.unfreeze()
    gc.collect()
    assert collected() is None
    assert freezer.freezes == 2  # stopped: the last collection froze nothing


#: A test of the user's that counts on the collector, run beside the battery.
USER_TEST = """
import gc
import weakref

class Node:
    def __init__(self):
        self.itself = self

def test_a_cycle_is_collected():
    node = Node()
    gc.collect()  # a full collection while the node lives
    collected = weakref.ref(node)
    del node
    gc.collect()
    assert collected() is None
"""


def test_tests_beside_the_battery_keep_the_collector_as_it_is(
    tmp_path: Path, fixture_so: Callable[[str], Path]
) -> None:
    (tmp_path / "test_user.py").write_text(USER_TEST)
    plugin = fixture_so("conforming_processor")
    output = _run(tmp_path, f"--plugin={plugin}", "-rA", "-k", "lifecycle.create-destroy or a_cycle", "test_user.py")
    assert "FREEZER False" in output
    assert "PASSED test_user.py::test_a_cycle_is_collected" in output, output[-2000:]


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


@pytest.mark.parametrize(("contents", "boots"), [(b"\x7fELF\x02\x01\x01", True), (b"not a library\n", False)])
def test_the_zygote_boots_early_unless_a_plugin_is_sure_to_be_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, contents: bytes, boots: bool
) -> None:
    started: list[str] = []
    monkeypatch.setattr("conformance.sandbox.spawner.start_zygote", started.append)
    plugin = tmp_path / "libplugin.so"
    plugin.write_bytes(contents)
    boot_sandbox_early([plugin])
    assert bool(started) is boots
    started.clear()
    boot_sandbox_early([plugin, tmp_path / "missing.so"])
    assert not started


def test_the_zygote_is_started_before_the_projects_conftest_loads(
    tmp_path: Path, fixture_so: Callable[[str], Path]
) -> None:
    """A project's conftest.py (and pytest's configuration) load while the zygote already boots."""
    seen = tmp_path / "seen"
    (tmp_path / "conftest.py").write_text(
        "import pathlib, sys\n"
        "spawner = sys.modules.get('conformance.sandbox.spawner')\n"
        f"pathlib.Path({str(seen)!r}).write_text(str(bool(spawner and spawner._zygotes)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "metadata.utf8",
         f"--plugin={fixture_so('conforming_processor')}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert seen.read_text() == "True"
