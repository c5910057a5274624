"""One warm interpreter that forks the fork servers: each extra server costs a fork, not a boot.

A run uses a fork server per core plus one. Booting one (the interpreter, the
package's imports, the cffi declarations, the catalogue) cost about 0.45 s of CPU
on the reference machine, so a battery of one plugin spent 1.4 s of its 4.5 s of
CPU starting three servers, and the three boots competed for two cores at the
moment the run waited on the first. The zygote boots once; a server is then a
fork of its warm heap that enters its own namespaces (``containment``) as a
booted one would.

Each server must still be a child of the pytest process: the client waits on it
(``watchdog.exit_status``), reports how it ended and kills its group. So the
zygote forks an intermediate that forks the server and exits at once, and the
pytest process is a child subreaper (``PR_SET_CHILD_SUBREAPER``) while it waits
for the answer: the orphaned server is re-parented to it. The zygote answers with the server's pid only
after the intermediate has been reaped, so by then the server is pytest's. The
server arms its parent-death signal only once re-parented (armed earlier, the
intermediate's exit would fire it).

The protocol pipes are made by the client and handed over with ``SCM_RIGHTS``
on a socket the zygote inherited; the zygote keeps none of them open. When the
zygote cannot be used (a frozen fuzzer executable, a failure to start or to
answer), the client boots servers the usual way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time

from conformance._dataclass_code import save as save_dataclass_code
from conformance.sandbox.child import die_with_parent
from conformance.sandbox.containment import CONTAINMENT_ENV, Containment
from conformance.sandbox.debuginfo import plan_debug_masks
from conformance.sandbox.server import run_server, warm_server
from conformance.sandbox.spawner import PID, SPAWN
from conformance.scenario.lookup import ScenarioLookup, import_lookup

#: The intermediate exits right after its fork; a server still not re-parented after this gives up.
REPARENT_TIMEOUT_S = 10.0
#: The scenario every run asks for first (the machine calibration's round trip).
FIRST_SCENARIO = "selftest.empty"


def _serve_spawns(control: socket.socket, lookup_spec: str) -> None:
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 64, 2)
        except (ConnectionError, OSError):
            return
        if not message:
            return  # the client closed its end: the run is over
        if message != SPAWN or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        pid = _spawn(control, lookup_spec, fds[0], fds[1])
        os.close(fds[0])
        os.close(fds[1])
        with contextlib.suppress(OSError):
            control.sendall(PID.pack(pid))


def _spawn(control: socket.socket, lookup_spec: str, request_fd: int, reply_fd: int) -> int:
    """Fork a server through an intermediate that exits at once; returns its pid (-1 if the fork failed)."""
    report_r, report_w = os.pipe()
    intermediate = os.fork()
    if intermediate == 0:
        try:
            os.close(report_r)
            intermediate_pid = os.getpid()  # read before the fork: by the server's first step it may be gone
            server = os.fork()
            if server == 0:
                os.close(report_w)
                _become_server(control, lookup_spec, request_fd, reply_fd, intermediate_pid)
            os.write(report_w, PID.pack(server))
        finally:
            os._exit(0)
    os.close(report_w)
    with os.fdopen(report_r, "rb") as report:
        data = report.read(PID.size)
    os.waitpid(intermediate, 0)  # from here on the server's parent is the subreaper, not the intermediate
    return PID.unpack(data)[0] if len(data) == PID.size else -1


def _become_server(control: socket.socket, lookup_spec: str, request_fd: int, reply_fd: int, born_of: int) -> None:
    """In the forked server: its own process group, its pipes as stdin/stdout, then what a booted server does."""
    try:
        control.close()
        os.setpgid(0, 0)
        os.dup2(request_fd, 0)
        os.dup2(reply_fd, 1)
        os.close(request_fd)
        os.close(reply_fd)
        deadline = time.monotonic() + REPARENT_TIMEOUT_S
        while os.getppid() == born_of:  # until the intermediate is gone and we are the subreaper's
            if time.monotonic() > deadline:
                os._exit(70)
            os.sched_yield()
        die_with_parent()
        if os.getppid() == 1:
            os._exit(0)  # the client died before we were handed to it
        run_server(lookup_spec)
    except BaseException:  # noqa: BLE001 - a forked server must never return into the zygote's loop
        os._exit(70)
    os._exit(0)


def main(lookup_spec: str, control_fd: int) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the client decides when we stop
    control = socket.socket(fileno=control_fd)
    warm_lookup(import_lookup(lookup_spec))
    warm_server()
    if os.environ.get(CONTAINMENT_ENV, Containment.NAMESPACES) != Containment.SUBREAPER:
        plan_debug_masks()  # each server hides them in its own mount namespace (server.serve)
    save_dataclass_code()  # this process ends with os._exit, which skips the atexit hook
    _serve_spawns(control, lookup_spec)
    # Nothing is left to flush: tearing the warm heap down would only keep the run's exit waiting.
    os._exit(0)


def warm_lookup(lookup: ScenarioLookup) -> None:
    """Have the lookup import now, once for every server forked from here, what it imports on its first call.

    The catalogue's lookup imports every check module then (about 0.1 s of CPU): done
    in each forked server instead, it delayed the first request of every server.
    """
    with contextlib.suppress(LookupError):  # a lookup of other scenarios need not know this one
        lookup(FIRST_SCENARIO)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
