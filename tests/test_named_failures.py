"""Misbehaviour the battery names for what it is, in the category a plugin author looks at first.

Each plugin is a few lines of C on the reference echo (``c_common/skfix_c.h``), built here like the hostile
plugins of ``test_hostile.py``, and run as ``pytest --plugin`` from an empty directory. Each test asserts
that the right check fails with a message naming the cause, the exit status is 1, the run stays within
its bound and nothing of it is left running. The plugins whose whole battery is read share one run
(``misbehaving_run``): a battery process's start costs about as much as a small plugin's battery.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import BatteryRun, SharedRuns
from test_hostile import battery, build

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the plugins")


def processes_left(tmp_path: Path, plugin: Path) -> list[str]:
    """Processes that still have the plugin mapped or work under the run's directory ("pid comm")."""
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            mapped = str(plugin) in (entry / "maps").read_text()
            inside = os.readlink(entry / "cwd").startswith(str(tmp_path))
            comm = (entry / "comm").read_text().strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if mapped or inside:
            left.append(f"{entry.name} {comm}")
    return left


def non_passing(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["id"]: check for check in report["checks"] if check["status"] not in ("pass", "skip", "warn")}


SLOW_CONSTRUCTOR = """
#include "c_common/skfix_c.h"
#include <unistd.h>
SKFIX_TEXT_ECHO_METADATA(METADATA, "slow_ctor", "Text echo whose library constructor sleeps 30 s")
__attribute__((constructor)) static void sleep_at_load(void) { sleep(30); }
static const CNodeMetadata *get_metadata(void) { return &METADATA; }
SKFIX_PROCESSOR_API(API, get_metadata, skfix_text_echo_process)
SKFIX_EXPORT_API(API)
"""


def test_a_constructor_that_sleeps_is_reported_once_by_load_dlopen_and_the_run_stays_short(tmp_path: Path) -> None:
    """Before: every check skipped (the probe timed out), load.dlopen too, pointing at timeouts.* checks
    that do not exist for dlopen. Now load.dlopen fails naming the budget, the rest cite it, and the run
    costs the probe's two budgets of dlopen, not a constructor per check."""
    plugin = build(tmp_path, "slow_ctor", SLOW_CONSTRUCTOR)
    started = time.monotonic()
    # An unscaled budget, so that the bound below holds on a busy machine too.
    done, report = battery(tmp_path, plugin, env={"CONFORMANCE_MACHINE_FACTOR": "1"})
    elapsed = time.monotonic() - started
    failing = non_passing(report)
    assert list(failing) == ["load.dlopen"], failing
    assert "dlopen exceeded its budget" in failing["load.dlopen"]["message"]
    assert "library constructor" in failing["load.dlopen"]["message"]
    others = [check for check in report["checks"] if check["id"] != "load.dlopen"]
    assert all(check["status"] == "skip" and "load.dlopen" in check["message"] for check in others), others[:3]
    assert report["verdict"] == "fail" and done.returncode == 1, done.stdout[-2000:]
    assert elapsed < 90, f"{elapsed:.0f} s: the constructor was waited for more than the probe's two budgets"
    assert processes_left(tmp_path, plugin) == []


UNDEFINED_SYMBOL = """
#include "c_common/skfix_c.h"
SKFIX_TEXT_ECHO_METADATA(METADATA, "undefined_symbol", "Text echo that calls a function no library defines")
extern void no_such_function(void);
static const CNodeMetadata *get_metadata(void) { return &METADATA; }
static CResult process_packet(CPluginHandle handle, const char *pin, const CPacket *packet, const CNodeCallbacks *cb) {
    no_such_function();
    return skfix_text_echo_process(handle, pin, packet, cb);
}
SKFIX_PROCESSOR_API(API, get_metadata, process_packet)
SKFIX_EXPORT_API(API)
"""


def test_an_undefined_symbol_is_named_at_load_and_at_the_call_that_reaches_it(misbehaving_run: BatteryRun) -> None:
    """Before: load passed and 40 checks said "the process exited with code 127 in process_packet".
    Now load.symbols-resolve (RTLD_NOW) warns with the symbol's name, and every crash names it too."""
    report = misbehaving_run.report("undefined_symbol")
    checks = {check["id"]: check for check in report["checks"]}
    at_load = checks["load.symbols-resolve"]
    assert at_load["status"] == "warn" and "undefined symbol no_such_function" in at_load["message"]
    assert checks["load.dlopen"]["status"] == "pass"  # the host's lazy load succeeds
    crashes = [check for check in report["checks"] if check["status"] == "crash"]
    assert crashes and all("undefined symbol no_such_function" in check["message"] for check in crashes)
    assert crashes[0]["evidence"]["undefined_symbol"]["symbol"] == "no_such_function"
    assert report["verdict"] == "fail" and misbehaving_run.returncode == 1, misbehaving_run.stdout[-2000:]
    assert left_running(misbehaving_run, "undefined_symbol") == []


THREADS = """
#define _GNU_SOURCE
#include "c_common/skfix_c.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
SKFIX_TEXT_ECHO_METADATA(METADATA, "@NAME@", "Text echo whose instances each run a ticking thread")
typedef struct { SkfixInstance base; pthread_t ticker; atomic_bool stop; } Ticking;
static void *tick(void *arg) {
    Ticking *self = arg;
    while (!atomic_load(&self->stop)) usleep(1000);
    return NULL;
}
static const CNodeMetadata *get_metadata(void) { return &METADATA; }
static CPluginHandle create_instance(const char *params, CLogCallback log_cb, void *log_user_data) {
    SkfixInstance *base = skfix_create_instance(params, log_cb, log_user_data);
    if (base == NULL) return NULL;
    Ticking *self = calloc(1, sizeof *self);
    self->base = *base;
    free(base);
    pthread_create(&self->ticker, NULL, tick, self);
    pthread_setname_np(self->ticker, "skfix-ticker");
    return self;
}
static void destroy_instance(CPluginHandle handle) {
    Ticking *self = handle;
    if (self == NULL) return;
    @DESTROY@
}
SKFIX_PROCESSOR_TABLE(API, get_metadata, create_instance, skfix_text_echo_process, skfix_update_params, destroy_instance)
SKFIX_EXPORT_API(API)
"""
#: The defect: the ticker is left running (and its instance leaked, so that it never reads freed memory).
LEAVES_THE_THREAD = "(void)self;"
JOINS_THE_THREAD = "atomic_store(&self->stop, true); pthread_join(self->ticker, NULL); free(self);"


def test_threads_left_running_after_destroy_are_named(misbehaving_run: BatteryRun) -> None:
    """The ticker runs into unmapped code once the library is closed: a crash, with the threads named."""
    report = misbehaving_run.report("threads_left")
    failing = non_passing(report)
    stopped = failing["lifecycle.threads-stopped"]
    assert stopped["status"] in ("fail", "crash")
    assert "1 thread: 'skfix-ticker'" in stopped["message"] and "destroy_instance" in stopped["message"]
    assert "skfix-ticker" in failing["leaks.create-destroy"]["message"]
    assert set(failing) <= {"lifecycle.threads-stopped", "leaks.create-destroy", "leaks.traffic", "load.reload"}
    assert report["verdict"] == "fail" and misbehaving_run.returncode == 1, misbehaving_run.stdout[-2000:]
    assert left_running(misbehaving_run, "threads_left") == []


def test_threads_joined_by_destroy_pass(tmp_path: Path) -> None:
    source = THREADS.replace("@NAME@", "threads_joined").replace("@DESTROY@", JOINS_THE_THREAD)
    plugin = build(tmp_path, "threads_joined", source)
    done, report = battery(tmp_path, plugin, "-k", "lifecycle or leaks")
    assert non_passing(report) == {}
    assert report["verdict"] == "pass" and done.returncode == 0, done.stdout[-2000:]


CRASHES_NOW_AND_THEN = """
#include "c_common/skfix_c.h"
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
SKFIX_TEXT_ECHO_METADATA(METADATA, "crash_sometimes", "Text echo that aborts in about one process out of three")
static int crashes_in_this_process(void) {
    static int decided = -1;
    if (decided < 0) {
        /* The pid alone would not do: in a PID namespace every sandbox child may have the same one. */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        srand((unsigned)getpid() ^ (unsigned)now.tv_nsec);
        decided = rand() % 3 == 0;
    }
    return decided;
}
static const CNodeMetadata *get_metadata(void) { return &METADATA; }
static CResult process_packet(CPluginHandle handle, const char *pin, const CPacket *packet, const CNodeCallbacks *cb) {
    if (crashes_in_this_process()) abort();
    return skfix_text_echo_process(handle, pin, packet, cb);
}
SKFIX_PROCESSOR_API(API, get_metadata, process_packet)
SKFIX_EXPORT_API(API)
"""


def test_an_intermittent_crash_is_never_a_pass(misbehaving_run: BatteryRun) -> None:
    """About one process in three aborts in process_packet: whichever checks it strikes, the verdict
    fails and names crashes (or flaky ones), never a pass."""
    report = misbehaving_run.report("crash_sometimes")
    failing = non_passing(report)
    assert failing and {check["status"] for check in failing.values()} <= {"crash", "flaky", "fail"}, failing
    assert any("SIGABRT" in check["message"] for check in failing.values()), json.dumps(failing)[:2000]
    assert report["verdict"] == "fail" and misbehaving_run.returncode == 1, misbehaving_run.stdout[-2000:]
    assert left_running(misbehaving_run, "crash_sometimes") == []


CRASHES_AT_THE_THIRD_INSTANCE = """
#include "c_common/skfix_c.h"
#include <stdlib.h>
SKFIX_TEXT_ECHO_METADATA(METADATA, "crash_third", "Text echo that aborts at the third instance a process creates")
static const CNodeMetadata *get_metadata(void) { return &METADATA; }
static int created = 0;
static CPluginHandle create_instance(const char *params, CLogCallback log_cb, void *log_user_data) {
    if (++created == 3) abort();
    return skfix_create_instance(params, log_cb, log_user_data);
}
SKFIX_PROCESSOR_TABLE(API, get_metadata, create_instance, skfix_text_echo_process, skfix_update_params,
                      skfix_destroy_instance)
SKFIX_EXPORT_API(API)
"""


def test_a_crash_in_a_shared_child_does_not_vanish_when_the_check_passes_alone(misbehaving_run: BatteryRun) -> None:
    """Checks that share a child each create an instance: the third one aborts there, never when run alone."""
    report = misbehaving_run.report("crash_third")
    assert report["verdict"] == "fail" and misbehaving_run.returncode == 1, misbehaving_run.stdout[-2000:]
    flaky = [check for check in report["checks"] if check["status"] == "flaky"]
    assert flaky, non_passing(report)
    assert all("shared_child_death" in check["evidence"] for check in flaky)
    assert "killed by SIGABRT" in flaky[0]["message"] and "passed when run again alone" in flaky[0]["message"]


#: The plugins whose whole battery the tests above read, by label, with their source.
MISBEHAVING = {
    "undefined_symbol": UNDEFINED_SYMBOL,
    "threads_left": THREADS.replace("@NAME@", "threads_left").replace("@DESTROY@", LEAVES_THE_THREAD),
    "crash_sometimes": CRASHES_NOW_AND_THEN,
    "crash_third": CRASHES_AT_THE_THIRD_INSTANCE,
}


@pytest.fixture(scope="session")
def misbehaving_run(shared_runs: SharedRuns) -> BatteryRun:
    """The whole battery over the ``MISBEHAVING`` plugins, in one run: each plugin has its own probe, report
    and sandbox children there, as it would alone, and the run's exit status is 1 if any of them fails."""

    def build_all(directory: Path) -> list[str]:
        return [f"--plugin={build(directory, label, source)}" for label, source in MISBEHAVING.items()]

    def look_for_survivors(directory: Path) -> None:
        left = {label: processes_left(directory, directory / f"lib{label}.so") for label in MISBEHAVING}
        (directory / "left-running.json").write_text(json.dumps(left))

    return shared_runs.battery("misbehaving", build_all, after=look_for_survivors)


def left_running(run: BatteryRun, label: str) -> list[str]:
    """What ``processes_left`` found of the shared run right after it ended, for plugin ``label``."""
    left: dict[str, list[str]] = json.loads((run.report_dir.parent / "left-running.json").read_text())
    return left[label]
