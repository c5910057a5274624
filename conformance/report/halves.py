"""Writing a run's report files in two processes at once.

The files of a corpus run (report.json and report.html of ~100 plugins) are built by pure-Python
string work: about 2 s of one core, at the very end of the run, when the fork servers are already
stopped and the machine's other core is idle. A forked helper writes every other plugin's files
while this process writes the rest, which halves that tail on two cores.

It is only done where it cannot change what is written:

* the files are the same bytes whichever process writes them (each plugin's files depend on its own
  report only, and are written atomically by both);
* no other thread is running, native ones included, so the fork cannot copy a lock some thread holds;
* a failure in the helper is raised here, after both halves ended: an ``OSError`` as the same
  ``OSError`` (the session turns it into "cannot write the reports"), anything else as a
  ``RuntimeError`` carrying the helper's traceback. Each process writes all of its report.json
  files before any page, and this one waits for the helper whatever happens, so a renderer's bug
  still cannot cost a report.json.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

#: Fewer jobs than this are written by this process alone (a fork costs more than it saves).
MIN_JOBS_TO_SPLIT = 4
#: What the helper's exit status says when it sends a failure down its pipe.
_FAILED = 1


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def running_threads() -> int:
    """Threads of this process, native ones included (a C library's thread can hold a lock too)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def may_split(jobs: int) -> bool:
    """Whether a helper process would write half of ``jobs``: only with two cores and this thread alone."""
    return jobs >= MIN_JOBS_TO_SPLIT and usable_cores() > 1 and running_threads() == 1


def in_halves(items: Sequence[T], write: Callable[[T], None]) -> None:
    """``write`` every item: the odd-numbered ones in a forked helper, the others here, both in order."""
    if not may_split(len(items)):
        for item in items:
            write(item)
        return
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the helper: never returns
        os.close(read_fd)
        _helper(items[1::2], write, write_fd)
    os.close(write_fd)
    try:
        for item in items[0::2]:
            write(item)
    finally:
        failure = _collect(pid, read_fd)
    if failure is not None:
        raise failure


def _helper(items: Sequence[T], write: Callable[[T], None], failure_fd: int) -> None:
    status = 0
    try:
        for item in items:
            write(item)
    except BaseException as error:  # noqa: BLE001 - everything goes back to the parent
        status = _FAILED
        _send_failure(failure_fd, error)
    os._exit(status)


def _send_failure(fd: int, error: BaseException) -> None:
    described: dict[str, object] = {"type": type(error).__name__, "errno": None, "traceback": traceback.format_exc()}
    if isinstance(error, OSError):
        filename = None if error.filename is None else str(error.filename)
        described.update(errno=error.errno, strerror=error.strerror, filename=filename)
    data = memoryview(json.dumps(described).encode())
    while data:
        data = data[os.write(fd, data) :]


def _collect(pid: int, read_fd: int) -> Exception | None:
    """Wait for the helper; what it failed with, rebuilt here (None when it wrote its half)."""
    chunks = []
    try:
        while chunk := os.read(read_fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return None
    if not chunks:
        return RuntimeError(f"the process writing half of the reports ended with status {status}")
    described = json.loads(b"".join(chunks))
    if described["errno"] is not None:
        return OSError(
            described["errno"], described["strerror"] or os.strerror(described["errno"]), described["filename"]
        )
    if described["type"] == "OSError":
        return OSError(errno.EIO, "cannot write a report")
    return RuntimeError(f"writing half of the reports failed in a helper process:\n{described['traceback']}")
