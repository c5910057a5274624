"""Where sandbox children's working directories live, and who removes them when their server cannot.

Each fork server makes one directory named after its own pid (``skc-<pid>-<random>``) and every child's
working directory inside it. A server that ends normally removes its directory itself. A server that is
killed (a wedged child, a lost request, the run interrupted) cannot, so the client that reaps it removes
``skc-<its pid>-*``; and a run that was killed as a whole leaves directories whose owner is gone, which the
next run's first server start removes. Before this, every child killed with its server left a directory
behind: hundreds a day in ``/dev/shm`` on a busy CI machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable

#: Shared memory, where the system has it: each child's working directory (its output file) is made and
#: removed there. On the reference machine's ext4 (mounted with ``discard``) that cost 5 ms per child, 0.35 ms here.
MEMORY_BACKED_TMP = "/dev/shm"
MIN_MEMORY_BACKED_BYTES = 1 << 30
#: A server's directory: ``skc-<server pid>-<random>``.
SERVER_PREFIX = "skc-"


def workdir_root() -> str:
    """Where servers put their directories: memory-backed when possible, else the usual temporary directory.

    A ``TMPDIR`` the user set is theirs to choose and wins. A small ``/dev/shm`` (a container's 64 MB) is
    passed over: children flooding their output at once could fill it before their own output limit.
    """
    if "TMPDIR" in os.environ:
        return tempfile.gettempdir()
    try:
        space = os.statvfs(MEMORY_BACKED_TMP)
    except OSError:
        return tempfile.gettempdir()
    if space.f_bavail * space.f_frsize < MIN_MEMORY_BACKED_BYTES or not os.access(MEMORY_BACKED_TMP, os.W_OK | os.X_OK):
        return tempfile.gettempdir()
    return MEMORY_BACKED_TMP


def make_server_dir(pid: int) -> str:
    """The directory of the server ``pid`` (the caller), under ``workdir_root()``."""
    return tempfile.mkdtemp(prefix=f"{SERVER_PREFIX}{pid}-", dir=workdir_root())


def _roots() -> list[str]:
    """Every place a server may have put its directory (the free space of /dev/shm can change in between)."""
    return list(dict.fromkeys((workdir_root(), MEMORY_BACKED_TMP, tempfile.gettempdir())))


def _owner(name: str) -> int | None:
    if not name.startswith(SERVER_PREFIX):
        return None
    owner = name[len(SERVER_PREFIX) :].split("-", 1)[0]
    return int(owner) if owner.isdigit() and "-" in name[len(SERVER_PREFIX) :] else None


def _removed_unless(keep: Callable[[int], bool]) -> list[str]:
    """Remove the server directories (ours) whose owner ``keep`` does not keep."""
    removed: list[str] = []
    for root in _roots():
        try:
            names = os.listdir(root)
        except OSError:
            continue
        for name in names:
            owner = _owner(name)
            if owner is None or keep(owner):
                continue
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                if os.stat(path).st_uid != os.getuid():
                    continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def remove_server_dirs(pid: int) -> list[str]:
    """Remove what the (reaped) server ``pid`` left; returns the paths removed."""
    return _removed_unless(lambda owner: owner != pid)


def remove_stale_server_dirs() -> list[str]:
    """Remove the directories of servers that are gone (a run killed as a whole); returns the paths removed."""
    return _removed_unless(process_exists)


def process_exists(pid: int) -> bool:
    """Whether ``pid`` names a process (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
