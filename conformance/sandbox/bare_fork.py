"""fork(2) for a one-threaded fork server's scenario children, without CPython's at-fork protocol.

``os.fork`` wraps the system call in the interpreter's at-fork work: before it, the import lock and the
before-fork callbacks; in the child, the runtime's locks and thread states remade, the signal flags
cleared, and every registered after-fork callback run (``threading`` rebuilds its table of threads,
``random`` reseeds itself from the kernel). That work exists so that a child of a process with several
threads finds no lock held by a thread it does not have. A fork server has one thread, and its children
paid for the protocol all the same, in copies of pages shared with the server: a child that only reads
its own fault count took 231 page faults with ``os.fork`` and 39 without, a child running an empty scenario
514 and 414, and a fork, exit and reap cost 2.1 ms against 1.3 ms (2-core machine, 2026-12-04). Over the
corpus (~6,000 children) that was 4 % of the CPU time and of the wall time.

So the server calls libc's ``fork`` itself, holding the GIL as ``os.fork`` holds it (``ctypes.PyDLL``
does not release it), and the child goes on with the interpreter exactly as the server left it. That
state is consistent because no other thread existed to leave a lock or a thread state half-changed.
Where that cannot be promised, it is ``os.fork``: when another Python thread runs, or on an interpreter
version this was not checked on (the at-fork protocol changes between versions).

What a child forked here does not get, and why nothing in it needs it: a reseeded ``random`` module
generator (child code draws only from explicitly seeded ``random.Random`` instances and ``os.urandom``);
``threading``'s record of the main thread's native id (child code asks the kernel,
``threading.get_native_id``); Python-level signal flags cleared (the server installs no Python signal
handler, so none can be pending); the before- and after-fork callbacks of modules that register them
(none the server imports depends on them with one thread).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import threading

#: Interpreter versions whose at-fork protocol was read and whose sandbox tests and corpus pass with this fork
#: (3.13 adds thread handles and a parking lot to the protocol: not checked, so ``os.fork`` there).
CHECKED_VERSIONS: frozenset[tuple[int, int]] = frozenset({(3, 11), (3, 12)})


@functools.cache
def _libc_fork() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    """libc's fork through a handle that keeps the GIL during the call (a ``PyDLL``), looked up once, before
    any child is forked, so children do not look it up again."""
    fork = ctypes.PyDLL(None, use_errno=True).fork
    fork.restype = ctypes.c_int
    fork.argtypes = []
    return fork


def bare_fork_usable() -> bool:
    """Whether ``fork_child`` may skip the at-fork protocol in this process now."""
    return (
        sys.implementation.name == "cpython"
        and sys.version_info[:2] in CHECKED_VERSIONS
        and threading.active_count() == 1
    )


def fork_child() -> int:
    """``os.fork()``'s contract (0 in the child, the child's pid in the parent, ``OSError`` on failure), without
    the interpreter's at-fork work when the process has one thread."""
    if not bare_fork_usable():
        return os.fork()
    pid: int = _libc_fork()()
    if pid < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return pid


def warm_bare_fork() -> None:
    """Look the function up now, in the server, before it forks (``sandbox.server.warm_server``)."""
    if bare_fork_usable():
        _libc_fork()
