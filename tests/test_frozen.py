"""``conformance.sandbox.frozen``: how the sandbox starts its fork server from a PyInstaller-frozen fuzzer.

Why: the ClusterFuzzLite build (tests/test_clusterfuzzlite.py) proves the whole path but runs only in its
own CI step; these pin the command and the role dispatch on every run.
"""

from __future__ import annotations

import os
import runpy
import sys

import pytest

from conformance.sandbox import frozen


def test_an_ordinary_interpreter_runs_the_module_with_dash_m(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sys, "frozen", raising=False)
    monkeypatch.setenv(frozen.ROLE_ENV, "conformance.sandbox.server")  # inherited from a frozen parent
    command, env = frozen.module_command("conformance.sandbox.server")
    assert command == [sys.executable, "-m", "conformance.sandbox.server"]
    assert frozen.ROLE_ENV not in env
    assert frozen.module_command("conformance.sandbox.server", "x")[0][-1] == "x"


def test_a_frozen_interpreter_starts_itself_in_the_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    command, env = frozen.module_command("conformance.sandbox.server")
    assert command == [sys.executable]
    assert env[frozen.ROLE_ENV] == "conformance.sandbox.server"
    assert frozen.module_command("conformance.sandbox.server", "x")[0] == [sys.executable, "x"]
    with pytest.raises(ValueError, match="cannot run from a frozen executable"):
        frozen.module_command("conformance.cli")


def test_the_hook_does_nothing_without_a_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(frozen.ROLE_ENV, raising=False)
    frozen.run_role_from_environment()  # returns: the fuzz target runs


def test_the_hook_runs_the_role_as_main_with_the_arguments_and_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str, bool]] = []

    def run_module(module: str, run_name: str, alter_sys: bool) -> None:
        seen.append((module, run_name, alter_sys))

    monkeypatch.setattr(runpy, "run_module", run_module)
    monkeypatch.setenv(frozen.ROLE_ENV, "conformance.sandbox.server")
    with pytest.raises(SystemExit) as stopped:
        frozen.run_role_from_environment()
    assert stopped.value.code == 0
    assert seen == [("conformance.sandbox.server", "__main__", True)]
    assert frozen.ROLE_ENV not in os.environ  # the server's own children start plain


def test_the_hook_refuses_an_unknown_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(frozen.ROLE_ENV, "os")
    with pytest.raises(SystemExit, match="not a role"):
        frozen.run_role_from_environment()
