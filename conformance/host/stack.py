"""Is a pointer the plugin returned inside the dead part of the calling thread's stack?

ABI.md 4.1: an error message (and a runtime schema) is borrowed and must stay
valid until the next call into the plugin on that thread. A C plugin that
formats it into a local array returns a pointer into its own stack frame,
which is gone the moment the call returns: the host's copy then reads
whatever the next function call wrote there. Heap churn does not reveal
that (the bytes often survive a while), so the host decides it from the
address: the calling thread's stack runs from its low end (``pthread_getattr_np``)
up to the frames that are still live. The live frames start where a C
function called from here puts its locals; ``dl_iterate_phdr`` passes the
address of one (its ``struct dl_phdr_info``) to the callback, which is that
probe. Everything below it, plus a margin for the call machinery the plugin
ran under, was the plugin's and is dead. On a thread whose stack block also
holds its thread-local storage (every thread but the process's first, where
glibc puts the TCB and static TLS at the top of the block, just above the
outermost frame) the margin stays small, so a per-thread buffer is never
mistaken for a dead frame.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

#: Above the probe's local: the libffi and cffi frames the plugin function was called under.
CALL_MARGIN = 2 * 1024
#: The same margin on a stack without thread-local storage in it (the initial thread's).
CALL_MARGIN_NO_TLS = 64 * 1024

_CDEFS = r"""
typedef struct { unsigned char opaque[64]; } sk_pthread_attr_t;
unsigned long pthread_self(void);
int pthread_getattr_np(unsigned long thread, sk_pthread_attr_t *attr);
int pthread_attr_getstack(const sk_pthread_attr_t *attr, void **stackaddr, size_t *stacksize);
int pthread_attr_destroy(sk_pthread_attr_t *attr);
int dl_iterate_phdr(int (*callback)(void *info, size_t size, void *data), void *data);
"""


class _Stack:
    def __init__(self) -> None:
        # On first use: the pytest process imports this module without cffi.
        from conformance.abi.compiled import declared_ffi

        self.ffi: Any = declared_ffi("streamkit_stack", _CDEFS)
        self.lib: Any = self.ffi.dlopen(None)
        self._probe_box: list[int] = []
        self._callback = self.ffi.callback("int(void *, size_t, void *)", self._on_phdr)
        self._bounds: dict[int, tuple[int, int, int] | None] = {}

    def _on_phdr(self, info: Any, size: int, data: Any) -> int:
        self._probe_box.append(int(self.ffi.cast("uintptr_t", info)))
        return 1  # stop after the first object

    def live_frames_start(self) -> int:
        """An address in the frame of a C function called from here (0 when the probe fails)."""
        self._probe_box.clear()
        self.lib.dl_iterate_phdr(self._callback, self.ffi.NULL)
        return self._probe_box[0] if self._probe_box else 0

    def bounds(self) -> tuple[int, int, int] | None:
        """(low, high, margin) of this thread's stack, cached per thread."""
        ident = threading.get_ident()
        if ident not in self._bounds:
            attr = self.ffi.new("sk_pthread_attr_t *")
            if self.lib.pthread_getattr_np(self.lib.pthread_self(), attr) != 0:
                self._bounds[ident] = None
            else:
                address = self.ffi.new("void **")
                size = self.ffi.new("size_t *")
                self.lib.pthread_attr_getstack(attr, address, size)
                self.lib.pthread_attr_destroy(attr)
                low = int(self.ffi.cast("uintptr_t", address[0]))
                high = low + int(size[0])
                tcb = int(self.lib.pthread_self())
                self._bounds[ident] = (low, high, CALL_MARGIN if low <= tcb < high + 4096 else CALL_MARGIN_NO_TLS)
        return self._bounds[ident]


@lru_cache(maxsize=1)
def _stack() -> _Stack:
    return _Stack()


def warm_up() -> None:
    """Build the helper in the fork server: children inherit its declarations, parsed types and the
    main thread's stack bounds (a forked child's main thread has the same stack) instead of redoing them."""
    stack = _stack()
    for name in ("sk_pthread_attr_t *", "void **", "size_t *", "uintptr_t", "void *"):
        stack.ffi.typeof(name)
    stack.bounds()
    stack.live_frames_start()


def in_dead_stack(address: int) -> bool:
    """True when ``address`` lies in this thread's stack below its live frames (a returned frame's memory)."""
    if address == 0:
        return False
    stack = _stack()
    bounds = stack.bounds()
    if bounds is None:
        return False
    low, high, margin = bounds
    probe = stack.live_frames_start()
    if not low <= probe < high:
        return False
    return low <= address < min(high, probe + margin)
