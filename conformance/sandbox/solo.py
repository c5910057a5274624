"""Run one scenario in a process of its own and write its result to a file.

Used where a scenario must run under an external tool (valgrind's helgrind,
DRD or memcheck): the tool wraps this process, never the pytest process and
never the fork server. ``python -m conformance.sandbox.solo REQUEST RESULT``.
The request is the tool's own pickle, read before the plugin is loaded; the
result is written as checked JSON, since the plugin ran in this process and
could have written that file itself.
"""

from __future__ import annotations

import pickle
import sys

from conformance.sandbox.client import run_in_process
from conformance.sandbox.event_codec import encode_result


def main(argv: list[str]) -> int:
    request_path, result_path = argv
    with open(request_path, "rb") as handle:
        request = pickle.load(handle)
    result = run_in_process(request)
    with open(result_path, "wb") as handle:
        handle.write(encode_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
