"""PyInstaller runtime hook of the ClusterFuzzLite fuzzers: runs before the fuzz target's own script.

A frozen fuzzer that the sandbox started as its fork server (``conformance.sandbox.frozen.module_command``) runs
the server and exits here; started any other way, it does nothing and the fuzz target runs.
"""

from conformance.sandbox.frozen import run_role_from_environment

run_role_from_environment()
