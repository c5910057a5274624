"""Keeping what a plugin starts inside the sandbox: namespaces, dropped privileges, a sweep after each scenario.

A plugin runs in a child of the fork server, and without more it can signal
its parent (``getppid()``), the tool's process group, fork daemons that outlive
the run, and, as root, lift its own resource limits. Two levels of containment:

* ``namespaces`` (where the kernel allows unprivileged user namespaces): the fork
  server enters a new user, PID and mount namespace and runs as PID 1 of it,
  with its own ``/proc``. A plugin sees no process outside the namespace (not
  pytest, not the tool's groups); the kernel ignores signals sent to PID 1 from
  inside the namespace unless it handles them, so SIGKILL or SIGSTOP to the
  server do nothing; when the server ends, the kernel kills everything left in
  the namespace. One namespace per fork server rather than per child: a child
  of its own per scenario would cost two more forks of a warm interpreter (about
  8 ms per scenario on the reference machine) and the children run one at a time,
  so the sweep below gives the same guarantee per scenario.
* ``subreaper`` (the fallback): the server is a child subreaper, so orphans of
  the plugin are re-parented to it instead of to init, and the sweep finds them.
  A plugin can still signal the server; the client's watchdog covers that.

In both, every scenario child drops all capabilities (bounding set included)
and sets ``no_new_privs`` before the plugin is loaded, and its limits have hard
equal to soft, so a plugin running as root cannot raise them. With namespaces a
seccomp filter also refuses any signal to a process older than the child (the
server, the process group, every process): the plugin dies with SIGSYS in the
call that tried, and the report names the call and the target
(``faults.refuse_foreign_signals``). Without it a SIGKILL to the server would
vanish silently and a plugin that tried would pass. After every
request the server kills and reaps every process left besides itself and names
them in a ``process.left-running`` violation (``checks.monitors`` credits it).

``CONFORMANCE_CONTAINMENT=subreaper`` forces the fallback (tests of the
watchdog use it); the level in force is in every result and in the report.
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import os
import signal
import sys
import time

from conformance.sandbox.faults import drop_privileges_natively
from conformance.sandbox.libc_calls import process_libc
from conformance.sandbox.procfs import children, describe, is_alive

CONTAINMENT_ENV = "CONFORMANCE_CONTAINMENT"
#: The violation rule a scenario breaks when processes it started outlive it.
STRAY_PROCESS_RULE = "process.left-running"
#: How long the sweep waits for killed processes to be reaped before it stops waiting.
REAP_TIMEOUT_S = 2.0

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_DUMPABLE = 4
_CAPABILITY_VERSION_3 = 0x20080522


class Containment(enum.StrEnum):
    """How far the sandbox keeps a plugin's processes from the tool (reported with every run)."""

    NAMESPACES = "namespaces"
    SUBREAPER = "subreaper"


#: The level this process (a fork server, and the children it forks) runs under; set by ``contain_server``.
_in_force: list[Containment] = []


def in_force() -> Containment | None:
    return _in_force[0] if _in_force else None


#: In the pytest process: the level the fork servers reported (the weakest, if they differ).
_observed: list[str] = []


def note_containment(level: str) -> None:
    """Remember the level a server reported with a result, for the report's ``run.containment``."""
    if level and level not in _observed:
        _observed.append(level)


def observed_containment() -> str | None:
    if not _observed:
        return None
    return Containment.SUBREAPER.value if Containment.SUBREAPER in _observed else _observed[0]


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def _enter_namespaces() -> str:
    """Unshare user, PID and mount namespaces, mapping the current ids; '' on success, else why not."""
    libc = process_libc()
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWPID | _CLONE_NEWNS) != 0:
        return f"unshare: {os.strerror(ctypes.get_errno())}"
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
        _write("/proc/self/gid_map", f"{gid} {gid} 1\n")
    except OSError as error:
        return f"id maps: {error.strerror}"
    return ""


def _mount_own_proc() -> str:
    """In the new namespaces: private mounts and a /proc that shows this PID namespace; '' on success."""
    libc = process_libc()
    if libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return f"private mounts: {os.strerror(ctypes.get_errno())}"
    if libc.mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None) != 0:
        return f"mount /proc: {os.strerror(ctypes.get_errno())}"
    return ""


def _relay(pid: int) -> None:
    """Outside the namespace: wait for its PID 1 (the real server) and end exactly as it ended."""
    for fd in range(0, 3):
        os.close(fd)  # the protocol pipes belong to PID 1: their ends must close when it dies
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            os._exit(70)
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 70)


def contain_server(die_with_parent: object) -> tuple[Containment, str]:
    """Called first thing in the fork server: move it into namespaces, or make it a subreaper.

    With namespaces this forks: the calling process stays outside as a relay
    (the pytest process's child, ending as the server ends) and only the child,
    PID 1 of the new namespace, returns. ``die_with_parent`` arms the parent-death
    signal in that child. Returns the level in force and, for the fallback, why.
    """
    wanted = os.environ.get(CONTAINMENT_ENV, Containment.NAMESPACES)
    why = "forced by " + CONTAINMENT_ENV if wanted == Containment.SUBREAPER else _enter_namespaces()
    if not why:
        pid = os.fork()
        if pid:
            _relay(pid)
        assert callable(die_with_parent)
        die_with_parent()
        why = _mount_own_proc()
        if not why:
            _make_undumpable()
            _in_force[:] = [Containment.NAMESPACES]
            return Containment.NAMESPACES, ""
        # Namespaces half set up (no /proc of our own): a PID 1 that cannot read its children; give up loudly.
        print(f"conformance sandbox: {why}", file=sys.stderr)
        os._exit(71)
    process_libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    _make_undumpable()
    _in_force[:] = [Containment.SUBREAPER]
    return Containment.SUBREAPER, why


def _make_undumpable() -> None:
    """Nobody but root in our namespace may open the server's /proc/<pid>/fd or memory: a plugin of the same uid
    could otherwise reopen the server's reply pipe through /proc and forge a result. Children undo it
    (``drop_privileges``) so that gdb and the server's /proc reads keep working on them."""
    process_libc().prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def drop_privileges() -> None:
    """In a scenario child, before the plugin loads: no capabilities, now or after an exec, and no setuid gains.

    Natively when the fault reporter is compiled (one call); else through ctypes, a few milliseconds.
    """
    if drop_privileges_natively():
        return
    libc = process_libc()
    libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as handle:
            last = int(handle.read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # fails harmlessly without CAP_SETPCAP
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable for both 32-bit halves: all zero
    libc.capset(header, data)


def _namespace_processes(me: int) -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) != me]


def _reap_exited() -> None:
    """Collect every child that has exited (re-parented orphans included), without waiting."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def sweep(level: Containment) -> tuple[str, ...]:
    """Kill and reap every process left besides this server; returns them as "pid command".

    Called after each request, when the scenario child has been reaped, so
    anything still alive was started by the plugin (directly, or re-parented to
    us after its parent died). In the fallback a killed process's own children
    are re-parented to us only once it is gone, so the sweep repeats until none is left.
    """
    me = os.getpid()
    strays: dict[int, str] = {}
    deadline = time.monotonic() + REAP_TIMEOUT_S
    while True:
        _reap_exited()
        found = _namespace_processes(me) if level is Containment.NAMESPACES else children(me)
        alive = [pid for pid in found if is_alive(pid)]
        if not alive or time.monotonic() >= deadline:
            return tuple(strays.values())
        for pid in alive:
            if pid not in strays:
                strays[pid] = describe(pid)
        if level is Containment.NAMESPACES:
            os.kill(-1, signal.SIGKILL)  # from PID 1: every other process of the namespace
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.001)
