"""streamkit-conformance: a conformance suite and fuzzing toolkit for the StreamKit native plugin C ABI (v6-v9)."""

__version__ = "0.1.0"
