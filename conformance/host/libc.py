"""The few libc functions the host needs directly: the dynamic loader and memory probes.

They live in their own FFI object so the ABI declarations stay exactly the
plugin ABI.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

_LIBC_CDEFS = r"""
void *dlopen(const char *filename, int flags);
void *dlsym(void *handle, const char *symbol);
int dlclose(void *handle);
char *dlerror(void);

struct mallinfo2 {
    size_t arena; size_t ordblks; size_t smblks; size_t hblks; size_t hblkhd;
    size_t usmblks; size_t fsmblks; size_t uordblks; size_t fordblks; size_t keepcost;
};
struct mallinfo2 mallinfo2(void);
int malloc_trim(size_t pad);

void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);
int munmap(void *addr, size_t length);
int mprotect(void *addr, size_t len, int prot);
long sysconf(int name);
"""

RTLD_LAZY = 0x0001
RTLD_NOW = 0x0002
RTLD_LOCAL = 0x0000
RTLD_NOLOAD = 0x0004
RTLD_GLOBAL = 0x0100


class Libc:
    """Typed façade over the libc FFI (cffi objects are typed Any)."""

    def __init__(self) -> None:
        # On first use: the pytest process imports this module without cffi.
        from conformance.abi.compiled import declared_ffi

        self.ffi: Any = declared_ffi("streamkit_libc", _LIBC_CDEFS)
        self.lib: Any = self.ffi.dlopen(None)
        # Resolve everything now (in the fork server), not once per child.
        for name in ("dlopen", "dlsym", "dlclose", "dlerror", "mallinfo2", "malloc_trim", "mprotect"):
            getattr(self.lib, name)
        for name in ("void *", "uintptr_t", "char *"):
            self.ffi.typeof(name)  # parsed here once; a child would parse (pycparser, ~1 ms) each again

    def dlerror(self) -> str:
        message = self.lib.dlerror()
        if message == self.ffi.NULL:
            return "unknown dynamic loader error"
        return str(self.ffi.string(message).decode("utf-8", "replace"))


@lru_cache(maxsize=1)
def libc() -> Libc:
    return Libc()
