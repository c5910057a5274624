"""The emulated StreamKit host: loading, calling, wire encoding and validation of plugins."""
