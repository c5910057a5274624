"""The report files of a run written by two processes (``report/halves.py``): every file once, failures
of the helper raised here as what they were, and no helper where a fork could copy a held lock."""

from __future__ import annotations

import errno
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.report import halves
from conformance.report.halves import in_halves


def _record(directory: Path) -> Callable[[int], None]:
    def write(item: int) -> None:
        (directory / f"{item:03d}").write_text(str(os.getpid()))

    return write


def _writers(directory: Path) -> dict[int, int]:
    return {int(path.name): int(path.read_text()) for path in directory.iterdir()}


@pytest.fixture()
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """The split needs two cores and no other thread: a runner pinned to one core, or an xdist worker (whose
    messages arrive on a thread of their own), would otherwise test only the serial path. The helper here
    only writes files and exits, so an xdist worker's thread cannot matter to it."""
    monkeypatch.setattr(halves, "usable_cores", lambda: 2)
    monkeypatch.setattr(halves, "running_threads", lambda: 1)


def test_every_item_is_written_once_half_of_them_by_a_helper(tmp_path: Path, two_cores: None) -> None:
    in_halves(list(range(20)), _record(tmp_path))
    writers = _writers(tmp_path)
    assert sorted(writers) == list(range(20))
    assert {writers[item] for item in range(0, 20, 2)} == {os.getpid()}
    helper = {writers[item] for item in range(1, 20, 2)}
    assert len(helper) == 1 and os.getpid() not in helper


def test_few_items_one_core_or_another_thread_stay_in_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(halves, "usable_cores", lambda: 2)
    monkeypatch.setattr(halves, "running_threads", lambda: 1)
    in_halves([1, 2, 3], _record(tmp_path))
    assert set(_writers(tmp_path).values()) == {os.getpid()}

    monkeypatch.setattr(halves, "usable_cores", lambda: 1)
    assert not halves.may_split(100)

    monkeypatch.undo()  # the real count of threads from here
    monkeypatch.setattr(halves, "usable_cores", lambda: 2)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert not halves.may_split(100), "a fork now could copy a lock the other thread holds"
    finally:
        release.set()
        other.join()


def test_an_os_error_in_the_helper_is_raised_here_as_that_error(tmp_path: Path, two_cores: None) -> None:
    record = _record(tmp_path)

    def write(item: int) -> None:
        if item == 5:
            raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "005"))
        record(item)

    with pytest.raises(PermissionError) as raised:
        in_halves(list(range(10)), write)
    assert raised.value.errno == errno.EACCES and raised.value.filename == str(tmp_path / "005")
    assert sorted(_writers(tmp_path)) == [0, 1, 2, 3, 4, 6, 8], "each half went on until its own failure"


def test_another_error_in_the_helper_is_raised_with_its_traceback(tmp_path: Path, two_cores: None) -> None:
    def write(item: int) -> None:
        if item == 3:
            raise KeyError("renderer bug")

    with pytest.raises(RuntimeError, match=r"(?s)helper process.*KeyError: 'renderer bug'"):
        in_halves(list(range(10)), write)


def test_a_failure_here_still_waits_for_the_helper_half(tmp_path: Path, two_cores: None) -> None:
    record = _record(tmp_path)

    def write(item: int) -> None:
        if item == 0:
            raise ValueError("first item of this half")
        record(item)

    with pytest.raises(ValueError, match="first item"):
        in_halves(list(range(10)), write)
    assert sorted(_writers(tmp_path)) == [1, 3, 5, 7, 9]


def test_a_helper_killed_by_a_signal_is_a_failure(two_cores: None) -> None:
    def write(item: int) -> None:
        if item == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(RuntimeError, match="ended with status"):
        in_halves(list(range(10)), write)
