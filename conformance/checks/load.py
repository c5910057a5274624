"""load: the library loads, exports its table, and passes the host's version gate (ABI.md 1, 8.1)."""

from __future__ import annotations

import re

from conformance.abi import ffi
from conformance.abi.constants import API_SYMBOL, OPTIONAL_ENTRIES, SET_LOG_ENABLED_SYMBOL
from conformance.checks.joint import declare_joint
from conformance.checks.model import Applicability, Severity
from conformance.checks.registry import check
from conformance.host.errors import LoadError
from conformance.host.instance import Instance
from conformance.host.libc import RTLD_LAZY, RTLD_LOCAL, RTLD_NOW, libc
from conformance.host.metadata import read_metadata
from conformance.sandbox.classify import undefined_symbol_text
from conformance.scenario.context import ScenarioContext

ANY_PLUGIN = Applicability(needs_loadable=False)
RELOADS = 3


def _load_until(ctx: ScenarioContext, stage: str) -> bool:
    """Load the plugin; True when it loaded, False (after an expectation) when it failed at ``stage``."""
    try:
        _ = ctx.plugin
    except LoadError as error:
        if error.stage == stage:
            ctx.expect(False, f"the host refuses the library at the {stage} step", error.message)
            return False
        ctx.skip(f"not loadable before this step: {error.message}")
    return True


@check(
    "load.dlopen",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 1.2 step 1",
    rationale="The host dlopens the file with RTLD_LAZY|RTLD_LOCAL; its constructors must not fail or abort.",
    applies=ANY_PLUGIN,
)
def dlopen_succeeds(ctx: ScenarioContext) -> None:
    overran = (ctx.option("wedged") or {}).get("dlopen")
    if overran is not None:
        # Triage saw it twice; opening the library again would only wait out the same budget once more.
        ctx.expect(
            False,
            f"dlopen returns within its budget of {ctx.budget('dlopen'):g} s",
            f"dlopen exceeded its budget: a library constructor did not return ({overran}); the host runs "
            "constructors on its loading thread with no timeout, so its load or upload hangs as long",
        )
        return
    if _load_until(ctx, "dlopen"):
        ctx.expect(True, "dlopen succeeded and the library constructors returned")


#: dlerror's text for a reference that nothing defines, "<path>: undefined symbol: <name>".
_UNDEFINED = re.compile(r"undefined symbol: (?P<symbol>\S+)")


@check(
    "load.symbols-resolve",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 1.2 step 1; HOST.md 1.1 step 1",
    rationale="The host binds lazily (RTLD_LAZY), so a function no library defines loads fine and ends the whole "
    "host process (exit 127, 'symbol lookup error') at its first call; bound at load with RTLD_NOW it is named "
    "up front. A warning, not a failure: the host does load such a library, and only a path that calls the "
    "function kills it (the checks that take that path crash and name the symbol).",
)
def symbols_resolve(ctx: ScenarioContext) -> None:
    c = libc()
    path = ctx.request.plugin_path.encode()
    handle = ctx.call("dlopen", c.lib.dlopen, path, RTLD_NOW | RTLD_LOCAL, detail="RTLD_NOW: every symbol bound")
    if handle != c.ffi.NULL:
        ctx.call("dlclose", c.lib.dlclose, handle)
        ctx.expect(True, "every symbol the library references resolves at load (RTLD_NOW)")
        return
    error = c.dlerror()
    ctx.observe("dlerror", error)
    undefined = _UNDEFINED.search(error)
    ctx.expect(
        False,
        "every symbol the library references resolves at load (RTLD_NOW)",
        undefined_symbol_text(undefined.group("symbol")) if undefined is not None else f"dlopen: {error}",
    )


@check(
    "load.entry-symbol",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 1.1, 1.2 steps 2-3, 8.1",
    rationale="The host resolves streamkit_native_plugin_api and needs a non-NULL table, the same one on every call.",
    applies=ANY_PLUGIN,
)
def entry_symbol(ctx: ScenarioContext) -> None:
    try:
        plugin = ctx.plugin
    except LoadError as error:
        if error.stage in ("symbol", "entry"):
            ctx.expect(False, f"{API_SYMBOL} resolves to a non-NULL table", error.message)
            return
        ctx.skip(f"not loadable before this step: {error.message}")
        return
    c = libc()
    symbol = c.lib.dlsym(plugin.handle, API_SYMBOL.encode())
    entry = ffi().cast("CPluginApiEntry", c.ffi.cast("uintptr_t", symbol))
    again = ctx.call(API_SYMBOL, entry)
    same = int(ffi().cast("uintptr_t", again)) == int(ffi().cast("uintptr_t", plugin.api))
    ctx.expect(same, "a second call returns the same table pointer")


@check(
    "load.version-gate",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 1.2 step 4, 2.1",
    rationale="The host accepts only API versions 6 to 9 and refuses anything else before reading the table.",
    applies=ANY_PLUGIN,
)
def version_gate(ctx: ScenarioContext) -> None:
    if _load_until(ctx, "version"):
        ctx.expect(True, f"version {ctx.plugin.version} is within 6..9")


@check(
    "load.required-entries",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 3.3 (CNativePluginAPI), 8.1",
    rationale="The host calls the six mandatory entries without NULL checks; a NULL one crashes it.",
)
def required_entries(ctx: ScenarioContext) -> None:
    missing = ctx.plugin.missing_required()
    ctx.expect(
        not missing,
        "get_metadata, create_instance, process_packet, update_params, flush and destroy_instance are non-NULL",
        f"NULL: {', '.join(missing)}" if missing else "",
    )


def _executable_ranges() -> list[tuple[int, int]]:
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 2 and "x" in fields[1]:
                start, end = (int(part, 16) for part in fields[0].split("-"))
                ranges.append((start, end))
    return ranges


@check(
    "load.entries-executable",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 3.3, 8.1",
    rationale="Every non-NULL table entry, and the v9 setter, must point into executable code the host can call.",
)
def entries_executable(ctx: ScenarioContext) -> None:
    plugin = ctx.plugin
    ranges = _executable_ranges()
    names = ["get_metadata", "create_instance", "process_packet", "update_params", "flush", "destroy_instance"]
    names += [name for name, since in OPTIONAL_ENTRIES.items() if plugin.version >= since]
    bad = []
    for name in names:
        pointer = plugin.entry(name)
        if pointer == ffi().NULL:
            continue
        address = int(ffi().cast("uintptr_t", pointer))
        if not any(start <= address < end for start, end in ranges):
            bad.append(f"{name} = 0x{address:x}")
    if plugin.has_setter:
        address = int(ffi().cast("uintptr_t", plugin.setter))
        if not any(start <= address < end for start, end in ranges):
            bad.append(f"{SET_LOG_ENABLED_SYMBOL} = 0x{address:x}")
    ctx.expect(not bad, "every non-NULL entry points into executable memory", ", ".join(bad))


@check(
    "load.log-setter",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 1.1, 2.1 (v9), HOST.md 6.11",
    rationale="A v9 plugin should export the log-enabled setter; without it the host warns "
    "'v9 plugin did not export log-enabled callback symbol' and the plugin gets no enabled short-circuit.",
    applies=Applicability(min_version=9),
)
def log_setter(ctx: ScenarioContext) -> None:
    ctx.expect(
        ctx.plugin.has_setter,
        f"{SET_LOG_ENABLED_SYMBOL} is exported",
        "host WARN: v9 plugin did not export log-enabled callback symbol (no log-enabled short-circuit)",
        warn_only=True,
    )


@check(
    "load.reload",
    severity=Severity.REQUIRED,
    abi_ref="HOST.md 1.1 (upload probes, loads twice), 1.9, 6.2",
    rationale="The host dlopens, probes and dlcloses a plugin at least twice per upload; static state must "
    "re-initialise on every dlopen and nothing may run after dlclose.",
)
def reload_cycles(ctx: ScenarioContext) -> None:
    plugin = ctx.plugin
    first = plugin.metadata
    if first.metadata is None:
        ctx.skip("metadata is unusable (see the metadata checks)")
    instance = Instance.create(plugin, None, install_setter=False, silent_log=True)
    if instance is not None:
        instance.destroy()
    c = libc()
    for cycle in range(RELOADS):
        ctx.expect(plugin.dlclose() == 0, f"dlclose succeeds (cycle {cycle + 1})")
        handle = ctx.call(
            "dlopen", c.lib.dlopen, plugin.path.encode(), RTLD_LAZY | RTLD_LOCAL, detail=f"reload {cycle + 1}"
        )
        if handle == c.ffi.NULL:
            ctx.expect(False, f"the library loads again (cycle {cycle + 1})", c.dlerror())
            return
        plugin.handle = handle
        symbol = c.lib.dlsym(handle, API_SYMBOL.encode())
        entry = ffi().cast("CPluginApiEntry", c.ffi.cast("uintptr_t", symbol))
        plugin.api = ctx.call(API_SYMBOL, entry)
        again = read_metadata(plugin.metadata_pointer())
        same = again.metadata == first.metadata
        ctx.expect(
            same,
            f"metadata after reload {cycle + 1} equals the first load's",
            "" if same else _first_difference(first.metadata, again.metadata),
        )
        instance = Instance.create(plugin, None, install_setter=False, silent_log=True)
        if instance is not None:
            instance.destroy()


def _load(ctx: ScenarioContext) -> None:
    _ = ctx.plugin


# These checks load the library as the host does, then only read what it exported; ``load.entry-symbol``
# calls the entry symbol once more, so it comes last (``checks.joint``).
declare_joint(
    "load",
    _load,
    (
        "load.dlopen",
        "load.version-gate",
        "load.required-entries",
        "load.entries-executable",
        "load.log-setter",
        "load.entry-symbol",
    ),
)


def _first_difference(a: object, b: object) -> str:
    left, right = repr(a), repr(b)
    for index, (x, y) in enumerate(zip(left, right, strict=False)):
        if x != y:
            return f"differs at {re.escape(left[max(0, index - 20) : index + 40])!s}"
    return "differs in length"
