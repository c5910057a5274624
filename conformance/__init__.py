"""streamkit-conformance: conformance suite and fuzzing toolkit for the StreamKit native plugin C ABI.

Covers API versions v6-v9 of the StreamKit native plugin interface.
"""

from conformance import _bytecode

__version__ = "0.1.0"

_bytecode.install()
from conformance import _dataclass_code  # noqa: E402 - after install(), so it loads from the byte-code cache

if _bytecode.caches_enabled():
    _dataclass_code.install(_bytecode.cache_root() / "dataclasses")
