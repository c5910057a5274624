"""Children's working directories never outlive their server, however the server ends."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from conformance.sandbox.client import SandboxClient, ServerLost
from conformance.sandbox.workdirs import SERVER_PREFIX, remove_stale_server_dirs, workdir_root
from conformance.scenario.protocol import Outcome, ScenarioRequest


def server_dirs(pid: int) -> list[str]:
    return glob.glob(os.path.join(workdir_root(), f"{SERVER_PREFIX}{pid}-*"))


def test_a_server_that_stops_removes_its_directory() -> None:
    sandbox = SandboxClient()
    try:
        assert sandbox.run(ScenarioRequest("selftest.empty", "/x")).outcome is Outcome.COMPLETED
        server = sandbox._process
        assert server is not None
        assert len(server_dirs(server.pid)) == 1
    finally:
        sandbox.close()
    assert server_dirs(server.pid) == []


def test_a_server_killed_mid_request_leaves_no_directory() -> None:
    sandbox = SandboxClient()
    seen: list[list[str]] = []
    try:
        assert sandbox.run(ScenarioRequest("selftest.empty", "/x")).outcome is Outcome.COMPLETED
        server = sandbox._process
        assert server is not None

        def look_then_kill() -> None:
            seen.append([str(child) for mine in server_dirs(server.pid) for child in Path(mine).iterdir()])
            os.kill(server.pid, signal.SIGKILL)

        killer = threading.Timer(0.3, look_then_kill)
        killer.start()
        failed = sandbox.run(ScenarioRequest("selftest.sleep-in-call", "/x", budget_scale=5.0))
        killer.join()
        assert isinstance(failed, ServerLost)
        assert len(seen[0]) == 1, "the child in flight had its directory in the server's"
        assert server_dirs(server.pid) == []
    finally:
        sandbox.close()


def test_directories_of_servers_that_are_gone_are_swept() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = Path(workdir_root()) / f"{SERVER_PREFIX}{gone.pid}-test"
    live = Path(workdir_root()) / f"{SERVER_PREFIX}{os.getpid()}-test"
    for made in (stale, live):
        (made / "child").mkdir(parents=True)
        (made / "child" / "output.log").write_text("left behind")
    try:
        deadline = time.monotonic() + 5
        while Path(f"/proc/{gone.pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        removed = remove_stale_server_dirs()
        assert str(stale) in removed and not stale.exists()
        assert live.exists(), "a live process's directory is kept"
    finally:
        for made in (stale, live):
            shutil.rmtree(made, ignore_errors=True)
