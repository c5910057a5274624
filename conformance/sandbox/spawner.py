"""The client's side of the zygote (``sandbox.zygote``): fork servers as forks of one warm interpreter.

``spawn_server`` returns a ``ServerProcess``, which has the parts of a
``subprocess.Popen`` the client uses (``pid``, ``stdin``, ``stdout``, ``wait``),
or None when the zygote cannot be used here, and the client then boots a server
as before. The zygote is started on the first request (or earlier, by
``start_zygote``), one per lookup and per process (an xdist worker has its own),
and stops when its socket closes at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import struct
import subprocess
import threading
from dataclasses import dataclass
from typing import BinaryIO

from conformance.sandbox.frozen import is_frozen, module_command
from conformance.sandbox.libc_calls import process_libc
from conformance.sandbox.watchdog import exit_status

#: The request sent to the zygote, with the server's request (read) and reply (write) pipe ends attached.
SPAWN = b"spawn"
#: The zygote's answer: the new server's pid (-1 when it could not fork one).
PID = struct.Struct("<i")
_PR_SET_CHILD_SUBREAPER = 36
#: Set to 0 to boot every fork server from scratch (the behaviour before the zygote).
ZYGOTE_ENV = "CONFORMANCE_ZYGOTE"
#: How long a spawn may take before the zygote is given up for this process.
SPAWN_TIMEOUT_S = 30.0


@dataclass
class ServerProcess:
    """A fork server forked by the zygote and re-parented to this process."""

    pid: int
    stdin: BinaryIO
    stdout: BinaryIO

    def wait(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


def set_subreaper(on: bool) -> bool:
    """Make this process the parent of its orphaned descendants (``on``), or stop; True when the call worked.

    On only while a server is being handed over (``spawn_server``): a process that stayed a subreaper would
    also adopt every other orphan of the user's test session, and keep it as a zombie, since nothing here
    waits for children it does not know.
    """
    return bool(process_libc().prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0)


class _Zygote:
    def __init__(self, lookup: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        command, env = module_command("conformance.sandbox.zygote", lookup, str(theirs.fileno()))
        env.setdefault("PYTHONHASHSEED", "0")
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, env=env, pass_fds=(theirs.fileno(),), process_group=0
        )
        theirs.close()
        ours.settimeout(SPAWN_TIMEOUT_S)
        self.socket = ours

    def spawn(self) -> ServerProcess | None:
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        try:
            socket.send_fds(self.socket, [SPAWN], [request_r, reply_w])
            data = b""
            while len(data) < PID.size:
                chunk = self.socket.recv(PID.size - len(data))
                if not chunk:
                    raise ConnectionError("the zygote closed its socket")
                data += chunk
        except (OSError, ConnectionError):
            for fd in (request_w, reply_r):
                os.close(fd)
            return None
        finally:
            os.close(request_r)
            os.close(reply_w)
        (pid,) = PID.unpack(data)
        if pid <= 0 or not _is_our_child(pid):
            os.close(request_w)
            os.close(reply_r)
            return None
        return ServerProcess(pid, os.fdopen(request_w, "wb"), os.fdopen(reply_r, "rb"))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.socket.close()
        try:
            self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _is_our_child(pid: int) -> bool:
    try:
        exit_status(pid)
    except ChildProcessError:
        return False
    return True


_zygotes: dict[str, _Zygote | None] = {}
_lock = threading.Lock()


def start_zygote(lookup: str) -> None:
    """Start the zygote of ``lookup`` now without waiting for it: it boots while the caller does other work."""
    if os.environ.get(ZYGOTE_ENV, "1") == "0" or is_frozen():
        return
    with _lock:
        _zygote(lookup)


def _zygote(lookup: str) -> _Zygote | None:
    """The zygote of ``lookup``, started on first use (under ``_lock``); None when this process cannot have one."""
    if lookup not in _zygotes:
        _zygotes[lookup] = _Zygote(lookup) if set_subreaper(False) else None  # the call works here
        if len(_zygotes) == 1:
            atexit.register(close_zygotes)
    return _zygotes[lookup]


def spawn_server(lookup: str) -> ServerProcess | None:
    """A new fork server forked from the zygote of ``lookup``, or None to boot one instead."""
    if os.environ.get(ZYGOTE_ENV, "1") == "0" or is_frozen():
        return None
    with _lock:
        zygote = _zygote(lookup)
        if zygote is None:
            return None
        set_subreaper(True)
        try:
            server = zygote.spawn()  # returns once the server is re-parented here
        finally:
            set_subreaper(False)
        if server is None:  # it failed once: boot servers the usual way from now on
            zygote.close()
            _zygotes[lookup] = None
        return server


def close_zygotes() -> None:
    with _lock:
        for lookup, zygote in list(_zygotes.items()):
            if zygote is not None:
                zygote.close()
            _zygotes.pop(lookup)
