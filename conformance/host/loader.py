"""Loading a plugin exactly as the host does (ABI.md 1.2, HOST.md 1.1).

dlopen with RTLD_LAZY | RTLD_LOCAL, resolve the entry symbol, call it once,
gate on the version before touching anything else in the table, and look up
the optional v9 setter only for v9 tables. Each step is a budgeted call so
that a constructor that aborts or an entry point that never returns is
attributed to the step that did it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conformance.abi import ffi
from conformance.abi.constants import (
    API_SYMBOL,
    MIN_SUPPORTED_API_VERSION,
    OPTIONAL_ENTRIES,
    REQUIRED_ENTRIES,
    SET_LOG_ENABLED_SYMBOL,
    HostText,
)
from conformance.host.errors import LoadError
from conformance.host.libc import RTLD_GLOBAL, RTLD_LAZY, RTLD_LOCAL, RTLD_NOW, libc
from conformance.host.metadata import read_metadata

if TYPE_CHECKING:
    from conformance.scenario.context import ScenarioContext

SUPPORTED_MAX_VERSION = 9

#: Libraries the real host's process has loaded, in its global scope, before it opens a plugin. The host is a
#: Rust binary built for linux-gnu, which links libgcc_s.so.1 (unwinding); this interpreter does not. Without
#: it, a plugin's reference to one of its symbols that the plugin does not declare a dependency for resolves in
#: the host and not here, and every child maps and relocates it again at the plugin's own dlopen.
HOST_PROCESS_LIBRARIES: tuple[str, ...] = ("libgcc_s.so.1",)


def load_host_process_libraries() -> None:
    """Load ``HOST_PROCESS_LIBRARIES`` into this process as the host's executable has them (bound now, global
    scope), before any plugin: done once by each fork server, so that every child finds them loaded. Idempotent;
    a system without one of them goes on without it, as a host built there would have to."""
    c = libc()
    for name in HOST_PROCESS_LIBRARIES:
        c.lib.dlopen(name.encode(), RTLD_NOW | RTLD_GLOBAL)


class LoadedPlugin:
    """A dlopen'ed plugin with its API table, version and optional setter."""

    def __init__(self, path: str, handle: Any, api: Any, version: int, setter: Any, ctx: ScenarioContext) -> None:
        self.path = path
        self.handle = handle
        self.api = api
        self.version = version
        self.setter = setter
        self.ctx = ctx
        self._metadata: Any = None

    @classmethod
    def load(cls, path: str, ctx: ScenarioContext, *, max_version: int | None = None) -> LoadedPlugin:
        """Load as a host of ``ctx.host_version`` would; raises LoadError with the host's text."""
        c = libc()
        handle = ctx.call("dlopen", c.lib.dlopen, path.encode(), RTLD_LAZY | RTLD_LOCAL, detail="library constructors")
        if handle == c.ffi.NULL:
            raise LoadError("dlopen", HostText.LOAD_FAILED.format(path=path, error=c.dlerror()))
        symbol = c.lib.dlsym(handle, API_SYMBOL.encode())
        if symbol == c.ffi.NULL:
            raise LoadError("symbol", HostText.NO_ENTRY_SYMBOL.format(error=c.dlerror()))
        entry = ffi().cast("CPluginApiEntry", c.ffi.cast("uintptr_t", symbol))
        api = ctx.call(API_SYMBOL, entry)
        if api == ffi().NULL:
            raise LoadError("entry", HostText.API_NULL)
        version = int(api.version)
        ctx.observe("api_version", version)
        upper = SUPPORTED_MAX_VERSION if max_version is None else max_version
        if not MIN_SUPPORTED_API_VERSION <= version <= upper:
            message = HostText.VERSION_MISMATCH.format(version=version)
            if upper != SUPPORTED_MAX_VERSION:
                message = message.replace("v9", f"v{upper}")
            raise LoadError("version", message)
        setter = ffi().NULL
        if version >= 9:
            found = c.lib.dlsym(handle, SET_LOG_ENABLED_SYMBOL.encode())
            if found != c.ffi.NULL:
                setter = ffi().cast("CSetLogEnabledCallback", c.ffi.cast("uintptr_t", found))
        return cls(path, handle, api, version, setter, ctx)

    @property
    def has_setter(self) -> bool:
        return bool(self.setter != ffi().NULL)

    def entry(self, name: str) -> Any:
        """The table's function pointer ``name`` (a NULL cdata when absent or not in this version)."""
        since = OPTIONAL_ENTRIES.get(name)
        if since is not None and self.version < since:
            return ffi().NULL
        return getattr(self.api, name)

    def has_entry(self, name: str) -> bool:
        return bool(self.entry(name) != ffi().NULL)

    def missing_required(self) -> list[str]:
        return [name for name in REQUIRED_ENTRIES if not self.has_entry(name)]

    def metadata_pointer(self) -> Any:
        """Call get_metadata (budgeted) and return the raw pointer."""
        return self.ctx.call("get_metadata", self.api.get_metadata)

    @property
    def metadata(self) -> Any:
        """The decoded metadata of the first get_metadata call (cached, as the host copies it once)."""
        if self._metadata is None:
            self._metadata = read_metadata(self.metadata_pointer())
        return self._metadata

    def dlclose(self) -> int:
        return int(self.ctx.call("dlclose", libc().lib.dlclose, self.handle))
