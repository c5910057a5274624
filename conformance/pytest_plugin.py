"""pytest entry point: ``pytest --plugin=path/to/libplugin.so`` runs the battery.

Registered through the ``pytest11`` entry point. Importing this module costs
little: the catalogue, cffi and the sandbox load only when a ``--plugin`` is
given. The plugin under test never runs in this process: every check, and the
probe that decides which checks apply, runs in a sandbox child.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from conformance.pytest_face.startup import boot_sandbox_early, collection_paused, keep_installed_plugins_compiled
from conformance.settings import OPTIONS, RunSettings, SettingsError, resolve_settings

keep_installed_plugins_compiled()

PLUGIN_DEST = "conformance_plugin"
PLUGIN_FLAG = "--plugin"
FALLBACK_FLAG = "--conformance-plugin"
_CONFLICT_HANDLER = "conformance_yields"
FLAG_OWNER_NAME = "conformance-plugin-flag"


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    owner = PluginFlagOwner(parser)
    group = parser.getgroup("conformance", "StreamKit native plugin conformance")
    for option in OPTIONS:
        kwargs: dict[str, Any] = {"dest": "conformance_" + option.name.replace("-", "_"), "help": option.help}
        if option.name == "plugin":
            kwargs["action"] = "append"
            kwargs["default"] = []
            # Always available, so a suite that owns --plugin can still run the battery.
            group.addoption(FALLBACK_FLAG, **{**kwargs, "help": option.help + " (same as --plugin)"})
            if owner.foreign_flag():
                owner.yield_flag()
                continue
        elif option.name == "race":
            kwargs.update(nargs="?", const="helgrind", default=None)
        elif option.name == "memcheck":
            kwargs.update(action="store_const", const="yes", default=None)
        group.addoption(f"--{option.name}", **kwargs)
    for option in OPTIONS:
        if option.name == "plugin":
            parser.addini(option.ini, option.help, type="linelist")
        else:
            parser.addini(option.ini, option.help, type="string")
    owner.install_conflict_handler()
    pluginmanager.register(owner, FLAG_OWNER_NAME)


class PluginFlagOwner:
    """Who owns ``--plugin`` in one pytest run: this tool, unless the project's own options take the name.

    This module is loaded through its entry point into every pytest run of the
    venv; a generic ``--plugin`` of a project or its conftest.py must never make
    pytest refuse that project's suite. The battery stays reachable as
    ``--conformance-plugin``, and the run's header says so. One per config, so a
    pytest run inside another (pytester) keeps its own.
    """

    def __init__(self, parser: pytest.Parser) -> None:
        self.parser = parser
        self.notice: str | None = None

    def _arguments(self) -> list[tuple[Any, Any]]:
        parser = self.parser
        return [(group, argument) for group in [parser._anonymous, *parser._groups] for argument in group.options]

    def foreign_flag(self) -> bool:
        return any(PLUGIN_FLAG in arg.names() and arg.dest != PLUGIN_DEST for _, arg in self._arguments())

    def yield_flag(self) -> None:
        self.notice = (
            f"conformance: {PLUGIN_FLAG} belongs to this project's own pytest options; "
            f"check a plugin with {FALLBACK_FLAG}=PATH"
        )

    def install_conflict_handler(self) -> None:
        """pytest 9 adds options to argparse at once: a later ``--plugin`` takes the name from us.

        Only a conflict with our own ``--plugin`` is resolved; any other conflict is argparse's usual error.
        """
        optparser = getattr(self.parser, "optparser", None)
        if optparser is None:  # pytest 8 builds argparse lazily: pytest_plugin_registered handles it
            return

        def handle(container: Any, action: argparse.Action, conflicting: list[tuple[str, argparse.Action]]) -> None:
            if not all(other.dest == PLUGIN_DEST for _, other in conflicting):
                container._handle_conflict_error(action, conflicting)
                return
            ours = [other for _, other in conflicting]
            container._handle_conflict_resolve(action, conflicting)
            for group, argument in self._arguments():
                if argument._action in ours and not argument.names():
                    group.options.remove(argument)
            self.yield_flag()

        setattr(argparse._ActionsContainer, f"_handle_conflict_{_CONFLICT_HANDLER}", handle)
        for container in [optparser, *optparser._action_groups]:
            container.conflict_handler = _CONFLICT_HANDLER

    def pytest_plugin_registered(self, plugin: object, manager: pytest.PytestPluginManager) -> None:
        """pytest 8: a conftest.py registered after us may add its own ``--plugin``; yield the name to it."""
        if getattr(self.parser, "optparser", None) is not None or not self.foreign_flag():
            return
        for group, argument in self._arguments():
            if argument.dest == PLUGIN_DEST and PLUGIN_FLAG in argument.names():
                group.options.remove(argument)
                self.yield_flag()

    def pytest_report_header(self, config: pytest.Config) -> list[str] | None:
        """The notice first (a run with a plugin adds its own lines after it)."""
        return [self.notice] if self.notice else None


def _settings(config: pytest.Config) -> RunSettings:
    def cli(name: str) -> Any:
        return config.getoption("conformance_" + name.replace("-", "_"))

    def ini(name: str) -> Any:
        return config.getini(name)

    try:
        return resolve_settings(cli, ini)
    except SettingsError as error:
        raise pytest.UsageError(str(error)) from None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Start the fork servers' zygote as soon as the command line is parsed: before conftest files, the
    other plugins' configuration and the battery's imports. Its boot (an interpreter, the catalogue) is
    what the first item waits for. Plugins named only in an ini file start it in ``pytest_configure``."""
    named = getattr(early_config.known_args_namespace, "conformance_plugin", None) or []
    if named:
        boot_sandbox_early([Path(path) for path in named])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance(category, severity): a check of the plugin battery")
    settings = _settings(config)
    if not settings.plugins:
        return
    # Imported here, not at the top: this module loads into every pytest process of the venv, and the
    # battery (catalogue, cffi, sandbox, reports) costs a pytest run without --plugin a noticeable start-up.
    with collection_paused():
        boot_sandbox_early(settings.plugins)
        from conformance.pytest_face.session import start_session

        start_session(config, settings)
