"""The fork server's children are forked without CPython's at-fork protocol: what a child does must still work.

Each case runs in a fresh interpreter (pytest's own process may have threads, which make ``fork_child`` fall
back to ``os.fork``), forks through ``fork_child`` and has the child report what it saw.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from conformance.sandbox.bare_fork import CHECKED_VERSIONS

pytestmark = pytest.mark.skipif(
    sys.version_info[:2] not in CHECKED_VERSIONS, reason="fork_child is os.fork on this interpreter"
)


def _run(body: str) -> str:
    """Run ``body`` in a fresh interpreter; its stdout."""
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_the_child_of_a_bare_fork_runs_threads_imports_and_reports_its_own_ids() -> None:
    out = _run(
        """
        import os, threading
        from conformance.sandbox import bare_fork
        assert bare_fork.bare_fork_usable()
        read, write = os.pipe()
        pid = bare_fork.fork_child()
        if pid == 0:
            results = []
            worker = threading.Thread(target=lambda: results.append(threading.get_native_id()))
            worker.start()
            worker.join()
            import decimal  # an import the parent never made
            line = f"{os.getpid()} {threading.get_native_id()} {results[0]} {decimal.Decimal('1.5') * 2}\\n"
            os.write(write, line.encode())
            os._exit(7)
        os.close(write)
        seen = os.read(read, 200).decode().split()
        _, status = os.waitpid(pid, 0)
        print(pid, os.getpid(), os.waitstatus_to_exitcode(status), *seen)
        """
    )
    child, parent, code, child_pid, child_tid, worker_tid, product = out.split()
    assert code == "7"
    assert child_pid == child != parent
    assert child_tid == child_pid  # the child's main thread is the kernel's idea of it, not the server's
    assert worker_tid not in (child_pid, parent)
    assert product == "3.0"


def test_an_abort_in_the_child_is_a_sigabrt_as_with_os_fork() -> None:
    """A Rust panic that cannot unwind aborts: glibc's raise must reach the child itself (its thread id is
    its own after libc's fork), so the crash is classified as SIGABRT, not as whatever abort falls back to."""
    out = _run(
        """
        import ctypes, os, signal
        from conformance.sandbox import bare_fork
        pid = bare_fork.fork_child()
        if pid == 0:
            ctypes.CDLL(None).abort()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print(os.WIFSIGNALED(status) and signal.Signals(os.WTERMSIG(status)).name)
        """
    )
    assert out.strip() == "SIGABRT"


def test_with_a_second_thread_running_it_is_os_fork() -> None:
    out = _run(
        """
        import threading
        from conformance.sandbox import bare_fork
        alone = bare_fork.bare_fork_usable()
        stop = threading.Event()
        worker = threading.Thread(target=stop.wait)
        worker.start()
        print(alone, bare_fork.bare_fork_usable())
        stop.set()
        worker.join()
        """
    )
    assert out.split() == ["True", "False"]
