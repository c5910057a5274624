"""A tiny native fault reporter: the address and access of a SIGSEGV/SIGBUS, written before the child dies.

Python cannot see ``si_addr``: a fault handler must be native and
async-signal-safe. The reporter is a few lines of C compiled once with the
system C compiler into a per-user cache (the same compiler a Rust or C plugin
is linked with) and loaded by the fork server, never by the pytest process.
When no compiler exists, crashes are still classified by signal and call;
only the sentence naming the buffer is missing, and the evidence says why.

The line it writes to the child's output: ``skc-fault: signal=11 code=2
addr=0x7f... access=write``. Guard regions the host created (alloc buffers,
read-only inputs) are announced as events, so the parent can say in words
which buffer the plugin overran.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.host.native_build import native_library
from conformance.host.native_guard import preload

_SOURCE = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

static int skc_fd = 2;

static size_t skc_hex(char *out, unsigned long value) {
    char digits[17];
    size_t n = 0;
    do { digits[n++] = "0123456789abcdef"[value & 15]; value >>= 4; } while (value && n < 16);
    for (size_t i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    return n;
}

static size_t skc_dec(char *out, long value) {
    char digits[24];
    size_t n = 0;
    if (value < 0) { *out++ = '-'; value = -value; }
    do { digits[n++] = (char)('0' + value % 10); value /= 10; } while (value && n < 20);
    for (size_t i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    return n;
}

static void skc_handler(int sig, siginfo_t *info, void *context) {
    char line[160];
    size_t n = 0;
    const char *head = "\nskc-fault: signal=";
    memcpy(line, head, strlen(head)); n += strlen(head);
    n += skc_dec(line + n, sig);
    memcpy(line + n, " code=", 6); n += 6;
    n += skc_dec(line + n, info->si_code);
    memcpy(line + n, " addr=0x", 8); n += 8;
    n += skc_hex(line + n, (unsigned long)info->si_addr);
    const char *access = " access=unknown\n";
#if defined(__x86_64__)
    ucontext_t *uc = (ucontext_t *)context;
    long err = uc->uc_mcontext.gregs[REG_ERR];
    /* page-fault error code: bit 4 = instruction fetch, bit 1 = write */
    access = (err & 16) ? " access=exec\n" : (err & 2) ? " access=write\n" : " access=read\n";
#endif
    memcpy(line + n, access, strlen(access)); n += strlen(access);
    ssize_t ignored = write(skc_fd, line, n);
    (void)ignored;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Native no-op host callbacks for race mode: calls that never enter the interpreter, so the
   interpreter lock does not order (and hide) the plugin's own unsynchronised accesses. */
typedef struct { _Bool success; const char *error_message; } skc_result;
skc_result skc_output_ok(const char *pin, const void *packet, void *user_data) {
    (void)pin; (void)packet; (void)user_data;
    skc_result ok = {1, 0};
    return ok;
}

int skc_install(int fd) {
    static char stack[65536];
    stack_t alt;
    alt.ss_sp = stack; alt.ss_size = sizeof stack; alt.ss_flags = 0;
    sigaltstack(&alt, NULL);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = skc_handler;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    skc_fd = fd;
    return sigaction(SIGSEGV, &action, NULL) | sigaction(SIGBUS, &action, NULL);
}
"""

_FAULT_LINE = re.compile(r"skc-fault: signal=(\d+) code=(-?\d+) addr=0x([0-9a-f]+) access=(\w+)")


@dataclass(frozen=True)
class Fault:
    signal: int
    code: int
    address: int
    access: str


def reporter_library() -> tuple[Path | None, str]:
    """(path of the compiled reporter, or None; why not)."""
    return native_library("skc_faults", _SOURCE, "fault reporter")


_installer: Any = None


def load_reporter() -> str:
    """Load the reporter into this process (the fork server); returns the reason when unavailable."""
    global _installer
    path, reason = reporter_library()
    if path is None:
        return reason
    import cffi  # on first use: the pytest process imports this module (through the judge) without cffi

    ffi = cffi.FFI()
    ffi.cdef("int skc_install(int fd); void skc_output_ok(void);")
    library = ffi.dlopen(str(path))
    ffi.typeof("uintptr_t")
    _installer = (ffi, library)
    preload()  # the callback guard too: children inherit it instead of loading it per scenario
    return ""


def native_output_callback() -> int:
    """Address of the native no-op output callback (0 when the helper is unavailable)."""
    if _installer is None:
        return 0
    ffi, library = _installer
    return int(ffi.cast("uintptr_t", ffi.addressof(library, "skc_output_ok")))


def install_in_child(fd: int = 2) -> bool:
    """Install the handler in a freshly forked child; False when the reporter is unavailable."""
    if _installer is None:
        return False
    return int(_installer[1].skc_install(fd)) == 0


def parse_fault(output: str) -> Fault | None:
    match = _FAULT_LINE.search(output)
    if match is None:
        return None
    return Fault(int(match.group(1)), int(match.group(2)), int(match.group(3), 16), match.group(4))
