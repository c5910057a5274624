"""Fork servers forked from one warm zygote (sandbox/zygote.py, sandbox/spawner.py)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import pytest

from conformance.sandbox import spawner
from conformance.sandbox.client import SandboxClient
from conformance.sandbox.procfs import stat_fields
from conformance.sandbox.spawner import ServerProcess
from conformance.scenario.protocol import Outcome, ScenarioRequest

EMPTY = ScenarioRequest("selftest.empty", "/x")


@pytest.fixture
def clients() -> Iterator[list[SandboxClient]]:
    made: list[SandboxClient] = []
    yield made
    for client in made:
        client.close()


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return int(stat_fields(handle.read())[1])


def test_servers_are_forks_of_one_zygote_and_children_of_this_process(clients: list[SandboxClient]) -> None:
    clients.extend(SandboxClient() for _ in range(3))
    for client in clients:
        assert client.run(EMPTY).outcome is Outcome.COMPLETED
    servers = [client._process for client in clients]
    assert all(isinstance(server, ServerProcess) for server in servers)
    pids = {server.pid for server in servers if server is not None}
    assert len(pids) == 3
    assert {_parent_of(pid) for pid in pids} == {os.getpid()}  # re-parented here: waited for and killed by us
    assert len([zygote for zygote in spawner._zygotes.values() if zygote is not None]) == 1
    for pid in pids:  # each leads a process group of its own, as a booted server does
        assert os.getpgid(pid) == pid


def test_the_zygote_can_be_turned_off(clients: list[SandboxClient], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(spawner.ZYGOTE_ENV, "0")
    clients.append(SandboxClient())
    assert clients[0].run(EMPTY).outcome is Outcome.COMPLETED
    assert isinstance(clients[0]._process, subprocess.Popen)


def test_a_dead_zygote_means_booted_servers_not_a_failure(clients: list[SandboxClient]) -> None:
    clients.append(SandboxClient())
    assert clients[0].run(EMPTY).outcome is Outcome.COMPLETED
    zygote = spawner._zygotes[next(iter(spawner._zygotes))]
    assert zygote is not None
    zygote.process.send_signal(signal.SIGKILL)
    zygote.process.wait()
    clients.append(SandboxClient())
    assert clients[1].run(EMPTY).outcome is Outcome.COMPLETED
    assert isinstance(clients[1]._process, subprocess.Popen)
    assert clients[0].run(EMPTY).outcome is Outcome.COMPLETED  # a server forked earlier outlives its zygote
    spawner.close_zygotes()


def test_this_process_adopts_orphans_only_while_it_spawns_a_server(clients: list[SandboxClient]) -> None:
    clients.append(SandboxClient())
    assert clients[0].run(EMPTY).outcome is Outcome.COMPLETED
    assert isinstance(clients[0]._process, ServerProcess)
    # An orphan of the user's own session goes to init (or their subreaper), not to us, to become our zombie.
    orphan = subprocess.run(
        ["sh", "-c", "sleep 5 >/dev/null 2>&1 & echo $!"], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        assert _parent_of(int(orphan)) != os.getpid()
    finally:
        os.kill(int(orphan), signal.SIGKILL)
