"""Reading processes from /proc: one place for the parsing the deadlines, the watchdog and containment share.

Every reader tolerates a process that is gone by the time it looks: that is
the normal case for the processes the sandbox watches.
"""

from __future__ import annotations

import os


def read_proc(path: str) -> str | None:
    """A /proc file's text, or None when the process (or the file) is gone.

    Through the descriptor calls, not ``open()``: the server reads a schedstat at every call start, and the
    buffered text file cost three times as much as the read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("ascii", "replace")


def stat_fields(text: str) -> list[str]:
    """Fields of a /proc stat line after the command name (which may contain spaces and parentheses)."""
    return text[text.rfind(")") + 2 :].split()


def process_state(pid: int) -> str | None:
    """The kernel's one-letter state of ``pid`` (R, S, D, T, t, Z...), None when it is gone."""
    text = read_proc(f"/proc/{pid}/stat")
    fields = stat_fields(text) if text is not None else []
    return fields[0] if fields else None


def is_alive(pid: int) -> bool:
    """Neither gone nor a zombie waiting to be reaped."""
    return process_state(pid) not in (None, "Z", "X")


def children(pid: int) -> list[int]:
    """The children of every thread of ``pid`` (a thread that forked is their parent, not the main thread)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for task in tasks:
        found.extend(int(word) for word in (read_proc(f"/proc/{pid}/task/{task}/children") or "").split())
    return found


def command_name(pid: int) -> str:
    """The short command name (``comm``), '' when the process is gone."""
    return (read_proc(f"/proc/{pid}/comm") or "").strip()


def describe(pid: int) -> str:
    """'pid command line' (or 'pid comm' when the command line is empty or unreadable)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            words = handle.read(512).split(b"\0")
        command = " ".join(word.decode("utf-8", "replace") for word in words if word)
    except OSError:
        command = ""
    return f"{pid} {command or command_name(pid) or '?'}"
