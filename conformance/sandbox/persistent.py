"""A persistent sandbox child: many inputs per child, the fork-server + persistent-loop design of AFL++
and libFuzzer's ``-fork``.

A fork of the caller (the fuzzing process itself: no server in between) isolated as every scenario
child is (``child.prepare_child``), which keeps what it loaded (the plugin) from one input to the next.
Inputs go down a socket as length-prefixed bytes; each comes back as one JSON line. The child's end
of that socket is fd 3, where the plugin can write too, so a reply is parsed strictly and anything
that is not one JSON object with the expected sequence number is ``Reply.MALFORMED``: never pickle,
never trusted. The caller restarts the child after a death, a hang, a thread left running or
``inputs_per_child`` inputs, and judges again, one per child, whatever a persistent child did wrong.

``post`` and ``receive`` are apart so that a caller can post the next input before the reply to the
previous one is in: the child then finds its next input waiting and the two processes work at once
(on two cores). Replies come in posting order; an input's budget runs from when the child could start
it (its posting, or the reply before it, whichever is later).
"""

from __future__ import annotations

import contextlib
import enum
import gc
import json
import os
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.abi import warm_up
from conformance.host.libc import libc
from conformance.sandbox.child import OUTPUT_FILE, prepare_child, thread_count
from conformance.sandbox.faults import load_reporter
from conformance.sandbox.workdirs import process_exists
from conformance.scenario.protocol import ScenarioRequest

#: What one reply line may weigh; a longer line is a plugin writing to the channel.
MAX_REPLY_BYTES = 1 << 20
#: Output kept before the child truncates its output file between inputs (the file limit is per child).
OUTPUT_KEEP_BYTES = 1 << 20
#: How long a child that missed its deadline is given to finish dying before it is called hung.
DYING_GRACE_S = 0.2
_LENGTH = struct.Struct("<I")
#: One encoder and decoder for every reply: ``json.dumps`` with separators builds an encoder per call, and
#: ``json.loads`` of bytes guesses their encoding first.
_ENCODE_REPLY = json.JSONEncoder(separators=(",", ":")).encode
_DECODE_REPLY = json.JSONDecoder().decode
#: Workdirs are named after the process that made them: libFuzzer ends a fuzzer with C's exit(), which runs
#: no Python cleanup, so the next fuzzer removes the workdirs of processes that are gone.
WORKDIR_PREFIX = "skp-"

#: What runs one input in the child: the input's bytes to a JSON-able object.
Handler = Callable[[bytes], dict[str, Any]]


class Reply(enum.Enum):
    """How one input ended in a persistent child."""

    RESULT = "result"  # the child answered; ``Exchange.value`` holds the handler's object
    DIED = "died"  # the child died (or closed the channel) before answering
    HUNG = "hung"  # no answer within the input's budget: the child was killed
    MALFORMED = "malformed"  # something that is not our reply came up the channel


@dataclass(frozen=True)
class Exchange:
    """One input's round trip; ``status`` is the waitpid status when the child ended."""

    reply: Reply
    value: dict[str, Any] = field(default_factory=dict)
    status: int | None = None
    detail: str = ""
    output: str = ""

    @property
    def threads_left(self) -> int:
        return int(self.value.get("threads", 1))


class PersistentChild:
    """One persistent child: ``post`` inputs, ``receive`` their ``Exchange``s in order; ``close`` kills it."""

    def __init__(self, request: ScenarioRequest, handler: Handler, *, warm: Callable[[], None] | None = None) -> None:
        """``request`` gives the limits and environment; ``warm`` runs once in the child before any input."""
        _warm_parent()
        self.workdir = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-")
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.pid = os.fork()
        if self.pid == 0:
            parent_end.close()
            _child_loop(request, handler, warm, child_end.detach(), self.workdir)
        child_end.close()
        self.sock = parent_end
        self.pidfd = os.pidfd_open(self.pid)
        self.sent = 0
        self.answered = 0
        self.status: int | None = None
        self._buffer = b""
        self._posted: deque[float] = deque()  # when each input not answered yet was posted
        self._last_reply = time.monotonic()
        self._post_error = ""

    @property
    def alive(self) -> bool:
        return self.status is None

    @property
    def in_flight(self) -> int:
        """Inputs posted and not answered yet."""
        return self.sent - self.answered

    def send(self, data: bytes, budget_s: float) -> Exchange:
        """Run ``data`` in the child and wait at most ``budget_s`` for its reply (nothing else in flight)."""
        self.post(data)
        return self.receive(budget_s)

    def post(self, data: bytes) -> None:
        """Queue ``data`` for the child; a child already gone shows in ``receive``."""
        self.sent += 1
        self._posted.append(time.monotonic())
        if self._post_error:
            return
        try:
            self.sock.sendall(_LENGTH.pack(len(data)) + data)
        except OSError as error:
            self._post_error = f"the child was gone before the input ({error})"

    def receive(self, budget_s: float) -> Exchange:
        """The reply to the oldest input in flight, waiting at most ``budget_s`` from when the child could
        start it."""
        started = max(self._posted.popleft(), self._last_reply)
        self.answered += 1
        if self._post_error and b"\n" not in self._buffer:
            return self._ended(Reply.DIED, self._post_error)
        deadline = started + budget_s
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_REPLY_BYTES:
                return self._ended(Reply.MALFORMED, f"a reply line longer than {MAX_REPLY_BYTES} bytes")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._timed_out(budget_s)
            readable, _, _ = select.select([self.sock.fileno(), self.pidfd], [], [], remaining)
            if self.sock.fileno() in readable:
                try:
                    chunk = self.sock.recv(1 << 16)
                except ConnectionResetError:  # it died with inputs unread (posted behind the one it died on)
                    self._drain()
                    return self._ended(Reply.DIED, "the child died")
                if not chunk:
                    return self._ended(Reply.DIED, "the child closed its channel")
                self._buffer += chunk
            elif self.pidfd in readable:
                self._drain()
                if b"\n" not in self._buffer:
                    return self._ended(Reply.DIED, "the child died")
        line, _, self._buffer = self._buffer.partition(b"\n")
        self._last_reply = time.monotonic()
        return self._parse(line)

    def _parse(self, line: bytes) -> Exchange:
        try:
            value = _DECODE_REPLY(line.decode())
        except (ValueError, RecursionError) as error:  # bad UTF-8 and deep nesting are a plugin's junk too
            return self._ended(Reply.MALFORMED, f"not JSON ({error}): {line[:200]!r}")
        if not isinstance(value, dict) or value.get("seq") != self.answered:
            return self._ended(Reply.MALFORMED, f"not the reply to input {self.answered}: {line[:200]!r}")
        threads = value.get("threads")
        if type(threads) is not int or threads < 1:
            return self._ended(Reply.MALFORMED, f"no thread count: {line[:200]!r}")
        return Exchange(Reply.RESULT, value)

    def _drain(self) -> None:
        """What the child wrote before it died is still its own account."""
        self.sock.setblocking(False)
        try:
            while len(self._buffer) <= MAX_REPLY_BYTES:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    break
                self._buffer += chunk
        except (BlockingIOError, ConnectionResetError):
            pass
        finally:
            self.sock.setblocking(True)

    def _timed_out(self, budget_s: float) -> Exchange:
        readable, _, _ = select.select([self.pidfd], [], [], DYING_GRACE_S)
        if readable:  # it died at its deadline: a death, not a hang
            return self._ended(Reply.DIED, "the child died")
        return self._ended(Reply.HUNG, f"no reply within {budget_s:.2f} s")

    def _ended(self, reply: Reply, detail: str) -> Exchange:
        self.close(keep_workdir=True)
        output = read_output(self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return Exchange(reply, status=self.status, detail=detail, output=output)

    def close(self, *, keep_workdir: bool = False) -> None:
        """Kill the child's process group (what the plugin started included) and reap the child."""
        if self.status is None:
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill(self.pid, signal.SIGKILL)
            _, self.status = os.waitpid(self.pid, 0)
            self.sock.close()
            os.close(self.pidfd)
        if not keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def read_output(workdir: str, limit: int = 8192) -> str:
    """The tail of the child's output since its last truncation."""
    try:
        with open(os.path.join(workdir, OUTPUT_FILE), "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _child_loop(
    request: ScenarioRequest, handler: Handler, warm: Callable[[], None] | None, channel: int, workdir: str
) -> None:
    """The child: isolate as a scenario child, then answer inputs until the channel closes. Never returns."""
    try:
        fd = prepare_child(request, channel, workdir)
        if warm is not None:
            warm()
        gc.freeze()  # what the caller had built is never garbage here: collections skip it (as the fork server's)
        seq = 0
        pending = b""
        while True:
            while len(pending) < _LENGTH.size or len(pending) < _LENGTH.size + _LENGTH.unpack_from(pending)[0]:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    os._exit(0)
                pending += chunk
            end = _LENGTH.size + _LENGTH.unpack_from(pending)[0]
            data, pending = pending[_LENGTH.size : end], pending[end:]
            seq += 1
            value = handler(data)
            sys.stdout.flush()
            sys.stderr.flush()
            if os.lseek(1, 0, os.SEEK_CUR) > OUTPUT_KEEP_BYTES:
                os.ftruncate(1, 0)
                os.lseek(1, 0, os.SEEK_SET)
            value["seq"] = seq
            value["threads"] = _threads()
            _write_all(fd, (_ENCODE_REPLY(value) + "\n").encode())
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        with contextlib.suppress(BaseException):
            traceback.print_exc()
            sys.stderr.flush()
        os._exit(70)
    os._exit(0)


_warmed: list[bool] = []


def remove_stale_workdirs(root: str | None = None) -> list[str]:
    """Remove the workdirs of persistent children whose parent process is gone; returns them."""
    root = root or tempfile.gettempdir()
    removed: list[str] = []
    with contextlib.suppress(OSError):
        for name in os.listdir(root):
            owner = name[len(WORKDIR_PREFIX) :].split("-", 1)[0]
            if name.startswith(WORKDIR_PREFIX) and owner.isdigit() and not process_exists(int(owner)):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
                removed.append(name)
    return removed


def _warm_parent() -> None:
    """What the fork server warms before its first fork, once: every child inherits it (the fault reporter
    above all, without which a crash in the child would meet the caller's own signal handlers)."""
    if not _warmed:
        remove_stale_workdirs()
        warm_up()
        libc()
        load_reporter()
        _warmed.append(True)


def _threads() -> int:
    """Threads of this process, native ones included: one stat, cheaper than listing /proc/self/task."""
    try:
        return max(1, os.stat("/proc/self/task").st_nlink - 2)
    except OSError:
        return thread_count()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
