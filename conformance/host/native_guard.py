"""A native guard around every host callback: overlapping calls are counted before the GIL is taken.

ABI.md 4.1 and 7: the host's per-call context behind ``output_callback``,
``telemetry_callback``, ``alloc_video`` and ``alloc_audio`` is written without
locking, so a plugin must never call them from two threads at once. A guard in
Python cannot see that: cffi takes the interpreter lock before the Python
callback runs, so the second thread simply waits and the calls look
sequential. Here the plugin calls small C trampolines instead. Each trampoline
increments an atomic in-use counter of its bundle (one slot per call token,
the ``user_data`` the host passed) *before* it enters the Python callback, and
records an overlap when the counter was already non-zero; the host reads the
slot when the call returns (``close``) and reports a ``callbacks.concurrent``
violation.

A callback entered on a thread other than the one that made the call holds
the counter a little longer (10 ms the first time in a call, 2 ms the next
three times, 16 times per process at most; it stops as soon as another thread
runs into the bundle), so that two plugin threads racing into the callbacks
overlap inside the guard even when the scheduler staggers them. Widening only
delays one caller; it cannot make sequential calls overlap, so it cannot
produce a false finding.

The log and log-enabled callbacks are guarded the same way with one
process-wide counter. ABI.md 7 declares those two thread-safe ("any thread, any
time"), so their overlaps are evidence (``log_overlaps``), never a failure.

The C source is compiled once with the system compiler (like the fault
reporter) and loaded by the fork server; without a compiler the host falls
back to its Python guard and says so in the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.host.native_build import native_library

_SOURCE = r"""
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef struct { _Bool success; const char *error_message; } skg_result;
typedef struct { uint8_t *data; size_t len; void *handle; void (*free_fn)(void *); } skg_video;
typedef struct { float *data; size_t sample_count; void *handle; void (*free_fn)(void *); } skg_audio;

typedef skg_result (*skg_output_fn)(const char *, const void *, void *);
typedef skg_result (*skg_telemetry_fn)(const char *, const uint8_t *, size_t, const void *, void *);
typedef skg_video (*skg_video_fn)(size_t, void *);
typedef skg_audio (*skg_audio_fn)(size_t, void *);
typedef void (*skg_log_fn)(int32_t, const char *, const char *, void *);
typedef _Bool (*skg_enabled_fn)(int32_t, const char *, void *);

#define SKG_CALLBACKS 4
#define SKG_SLOTS 512
#define SKG_WIDEN_FIRST_US 10000L /* the first foreign-thread entry of a call waits longest */
#define SKG_WIDEN_NEXT_US 2000L
#define SKG_WIDEN_STEP_US 250L
#define SKG_WIDEN_PER_CALL 4
#define SKG_WIDEN_PER_PROCESS 16

typedef struct {
    _Atomic uintptr_t token;
    _Atomic long owner;
    _Atomic int inside;
    _Atomic int running[SKG_CALLBACKS];
    _Atomic long running_tid[SKG_CALLBACKS];
    _Atomic unsigned overlaps;
    _Atomic int widened;
    _Atomic int first_claimed;
    int first_entered;
    long first_tid;
    int first_busy;
    long first_busy_tid;
} skg_slot;

static skg_slot skg_slots[SKG_SLOTS];
static _Atomic int skg_widen_left = SKG_WIDEN_PER_PROCESS;
static _Atomic int skg_log_inside;
static _Atomic unsigned skg_log_overlaps_count;

static skg_output_fn skg_t_output;
static skg_telemetry_fn skg_t_telemetry;
static skg_video_fn skg_t_video;
static skg_audio_fn skg_t_audio;
static skg_log_fn skg_t_log;
static skg_log_fn skg_t_silent;
static skg_enabled_fn skg_t_enabled;

static long skg_tid(void) { return (long)syscall(SYS_gettid); }

static skg_slot *skg_enter(void *user_data, int which) {
    uintptr_t token = (uintptr_t)user_data;
    skg_slot *slot = &skg_slots[token % SKG_SLOTS];
    if (token == 0 || atomic_load(&slot->token) != token) return NULL; /* late or foreign: Python reports it */
    long tid = skg_tid();
    int before = atomic_fetch_add(&slot->inside, 1);
    if (before > 0) {
        atomic_fetch_add(&slot->overlaps, 1);
        if (atomic_exchange(&slot->first_claimed, 1) == 0) {
            int busy = -1;
            for (int k = 0; k < SKG_CALLBACKS; k++) if (atomic_load(&slot->running[k]) > 0) { busy = k; break; }
            slot->first_entered = which;
            slot->first_tid = tid;
            slot->first_busy = busy;
            slot->first_busy_tid = busy >= 0 ? atomic_load(&slot->running_tid[busy]) : 0;
        }
    }
    atomic_fetch_add(&slot->running[which], 1);
    atomic_store(&slot->running_tid[which], tid);
    if (tid != atomic_load(&slot->owner)) {
        int nth = atomic_fetch_add(&slot->widened, 1);
        if (nth < SKG_WIDEN_PER_CALL && atomic_fetch_sub(&skg_widen_left, 1) > 0) {
            /* Hold the bundle "in use" a little; stop as soon as another thread has run into it. */
            unsigned seen = atomic_load(&slot->overlaps);
            long left = nth == 0 ? SKG_WIDEN_FIRST_US : SKG_WIDEN_NEXT_US;
            struct timespec step = {0, SKG_WIDEN_STEP_US * 1000L};
            for (; left > 0 && atomic_load(&slot->overlaps) == seen; left -= SKG_WIDEN_STEP_US) nanosleep(&step, NULL);
        }
    }
    return slot;
}

static void skg_leave(skg_slot *slot, int which) {
    if (slot == NULL) return;
    atomic_fetch_sub(&slot->running[which], 1);
    atomic_fetch_sub(&slot->inside, 1);
}

skg_result skg_output(const char *pin, const void *packet, void *user_data) {
    skg_slot *slot = skg_enter(user_data, 0);
    skg_result result = skg_t_output(pin, packet, user_data);
    skg_leave(slot, 0);
    return result;
}

skg_result skg_telemetry(const char *event_type, const uint8_t *data, size_t len, const void *meta, void *user_data) {
    skg_slot *slot = skg_enter(user_data, 1);
    skg_result result = skg_t_telemetry(event_type, data, len, meta, user_data);
    skg_leave(slot, 1);
    return result;
}

skg_video skg_alloc_video(size_t min_bytes, void *user_data) {
    skg_slot *slot = skg_enter(user_data, 2);
    skg_video result = skg_t_video(min_bytes, user_data);
    skg_leave(slot, 2);
    return result;
}

skg_audio skg_alloc_audio(size_t min_samples, void *user_data) {
    skg_slot *slot = skg_enter(user_data, 3);
    skg_audio result = skg_t_audio(min_samples, user_data);
    skg_leave(slot, 3);
    return result;
}

static void skg_log_enter(void) {
    if (atomic_fetch_add(&skg_log_inside, 1) > 0) atomic_fetch_add(&skg_log_overlaps_count, 1);
}

void skg_log(int32_t level, const char *target, const char *message, void *user_data) {
    skg_log_enter();
    skg_t_log(level, target, message, user_data);
    atomic_fetch_sub(&skg_log_inside, 1);
}

void skg_silent_log(int32_t level, const char *target, const char *message, void *user_data) {
    skg_log_enter();
    skg_t_silent(level, target, message, user_data);
    atomic_fetch_sub(&skg_log_inside, 1);
}

_Bool skg_enabled(int32_t level, const char *target, void *user_data) {
    skg_log_enter();
    _Bool answer = skg_t_enabled(level, target, user_data);
    atomic_fetch_sub(&skg_log_inside, 1);
    return answer;
}

void skg_set_bundle_targets(void *output, void *telemetry, void *video, void *audio) {
    skg_t_output = (skg_output_fn)output;
    skg_t_telemetry = (skg_telemetry_fn)telemetry;
    skg_t_video = (skg_video_fn)video;
    skg_t_audio = (skg_audio_fn)audio;
}

void skg_set_log_targets(void *log, void *silent, void *enabled) {
    skg_t_log = (skg_log_fn)log;
    skg_t_silent = (skg_log_fn)silent;
    skg_t_enabled = (skg_enabled_fn)enabled;
}

void skg_open(uintptr_t token, long owner) {
    skg_slot *slot = &skg_slots[token % SKG_SLOTS];
    atomic_store(&slot->token, 0);
    atomic_store(&slot->inside, 0);
    for (int k = 0; k < SKG_CALLBACKS; k++) { atomic_store(&slot->running[k], 0); atomic_store(&slot->running_tid[k], 0); }
    atomic_store(&slot->overlaps, 0);
    atomic_store(&slot->widened, 0);
    atomic_store(&slot->first_claimed, 0);
    slot->first_entered = slot->first_busy = -1;
    slot->first_tid = slot->first_busy_tid = 0;
    atomic_store(&slot->owner, owner);
    atomic_store(&slot->token, token);
}

unsigned skg_close(uintptr_t token, int *entered, long *tid, int *busy, long *busy_tid) {
    skg_slot *slot = &skg_slots[token % SKG_SLOTS];
    if (atomic_load(&slot->token) != token) return 0;
    atomic_store(&slot->token, 0);
    *entered = slot->first_entered;
    *tid = slot->first_tid;
    *busy = slot->first_busy;
    *busy_tid = slot->first_busy_tid;
    return atomic_load(&slot->overlaps);
}

unsigned skg_log_overlaps(void) { return atomic_load(&skg_log_overlaps_count); }
"""

_CDEF = """
void skg_output(void);
void skg_telemetry(void);
void skg_alloc_video(void);
void skg_alloc_audio(void);
void skg_log(void);
void skg_silent_log(void);
void skg_enabled(void);
void skg_set_bundle_targets(void *output, void *telemetry, void *video, void *audio);
void skg_set_log_targets(void *log, void *silent, void *enabled);
void skg_open(uintptr_t token, long owner);
unsigned skg_close(uintptr_t token, int *entered, long *tid, int *busy, long *busy_tid);
unsigned skg_log_overlaps(void);
"""

#: Callback names by the index the trampolines use.
BUNDLE_CALLBACKS = ("output_callback", "telemetry_callback", "alloc_video", "alloc_audio")


@dataclass(frozen=True)
class Overlap:
    """Concurrent calls into one bundle's callbacks, as the guard saw them during one plugin call."""

    count: int
    entered: str
    thread: int
    busy: str | None
    busy_thread: int

    def describe(self, entry: str) -> str:
        busy = f"{self.busy} was running on thread {self.busy_thread}" if self.busy else "another callback was running"
        calls = "call" if self.count == 1 else "calls"
        return (
            f"{self.entered} entered on thread {self.thread} while {busy} ({self.count} overlapping {calls} "
            f"in one {entry}); the host's per-call context is written without locking, so its callbacks must "
            "never run concurrently (ABI.md 4.1, 7)"
        )


class NativeGuard:
    """The loaded guard: trampoline addresses, target registration, and per-call slots."""

    def __init__(self, ffi: Any, library: Any) -> None:
        self._ffi = ffi
        self._library = library
        self._out = ffi.new("int *"), ffi.new("long *"), ffi.new("int *"), ffi.new("long *")
        for type_name in ("uintptr_t", "void *"):
            ffi.typeof(type_name)  # parsed in the fork server, not once per child

    def address(self, name: str) -> int:
        """Address of trampoline ``name`` (``skg_output``...), to cast to the ABI's function type."""
        return int(self._ffi.cast("uintptr_t", self._ffi.addressof(self._library, name)))

    def _pointer(self, address: int) -> Any:
        return self._ffi.cast("void *", address)

    def set_bundle_targets(self, output: int, telemetry: int, video: int, audio: int) -> None:
        self._library.skg_set_bundle_targets(*(self._pointer(a) for a in (output, telemetry, video, audio)))

    def set_log_targets(self, log: int, silent: int, enabled: int) -> None:
        self._library.skg_set_log_targets(*(self._pointer(a) for a in (log, silent, enabled)))

    def open(self, token: int, owner_thread: int) -> None:
        self._library.skg_open(token, owner_thread)

    def close(self, token: int) -> Overlap | None:
        """The call returned: its slot's overlaps (None when there were none)."""
        entered, thread, busy, busy_thread = self._out
        count = int(self._library.skg_close(token, entered, thread, busy, busy_thread))
        if count == 0:
            return None
        return Overlap(
            count,
            _callback_name(int(entered[0])),
            int(thread[0]),
            _callback_name(int(busy[0])) if int(busy[0]) >= 0 else None,
            int(busy_thread[0]),
        )

    def log_overlaps(self) -> int:
        return int(self._library.skg_log_overlaps())


def _callback_name(index: int) -> str:
    return BUNDLE_CALLBACKS[index] if 0 <= index < len(BUNDLE_CALLBACKS) else "a callback"


_guard: NativeGuard | None = None
_unavailable = ""


def preload() -> str:
    """Compile (once per user) and load the guard into this process; returns why not, or ""."""
    global _guard, _unavailable
    if _guard is not None or _unavailable:
        return _unavailable
    path, reason = native_library("skc_guard", _SOURCE, "callback guard")
    if path is None:
        _unavailable = reason
        return reason
    # On first use: the pytest process imports this module without cffi.
    from conformance.abi.compiled import declared_ffi

    ffi = declared_ffi("streamkit_guard", _CDEF)
    try:
        library = ffi.dlopen(str(path))
    except OSError as error:
        _unavailable = f"the callback guard could not be loaded: {error}"
        return _unavailable
    _guard = NativeGuard(ffi, library)
    return ""


def native_guard() -> NativeGuard | None:
    """The guard, loading it on first use (the fork server preloads it); None when unavailable."""
    if _guard is None and not _unavailable:
        preload()
    return _guard


def unavailable_reason() -> str:
    return _unavailable
