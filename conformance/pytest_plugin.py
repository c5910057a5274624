"""pytest entry point: ``pytest --plugin=path/to/libplugin.so`` runs the battery.

Registered through the ``pytest11`` entry point. Importing this module costs
little: the catalogue, cffi and the sandbox load only when a ``--plugin`` is
given. The plugin under test never runs in this process: every check, and the
probe that decides which checks apply, runs in a sandbox child.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from conformance.pytest_startup import keep_installed_plugins_compiled
from conformance.settings import OPTIONS, RunSettings, SettingsError, resolve_settings

keep_installed_plugins_compiled()

PLUGIN_DEST = "conformance_plugin"
PLUGIN_FLAG = "--plugin"
FALLBACK_FLAG = "--conformance-plugin"
_CONFLICT_HANDLER = "conformance_yields"
_parser_seen: list[pytest.Parser] = []
_yielded_plugin_flag: list[str] = []  # the notice, once another plugin or a conftest.py owns --plugin


def pytest_addoption(parser: pytest.Parser) -> None:
    _parser_seen[:] = [parser]
    _yielded_plugin_flag.clear()
    group = parser.getgroup("conformance", "StreamKit native plugin conformance")
    for option in OPTIONS:
        kwargs: dict[str, Any] = {"dest": "conformance_" + option.name.replace("-", "_"), "help": option.help}
        if option.name == "plugin":
            kwargs["action"] = "append"
            kwargs["default"] = []
            # Always available, so a suite that owns --plugin can still run the battery.
            group.addoption(FALLBACK_FLAG, **{**kwargs, "help": option.help + " (same as --plugin)"})
            if _foreign_flag(parser):
                _note_yield()
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
    _install_conflict_handler(parser)


def _arguments(parser: pytest.Parser) -> list[tuple[Any, Any]]:
    return [(group, argument) for group in [parser._anonymous, *parser._groups] for argument in group.options]


def _foreign_flag(parser: pytest.Parser) -> bool:
    return any(PLUGIN_FLAG in arg.names() and arg.dest != PLUGIN_DEST for _, arg in _arguments(parser))


def _note_yield() -> None:
    if not _yielded_plugin_flag:
        _yielded_plugin_flag.append(
            f"conformance: {PLUGIN_FLAG} belongs to this project's own pytest options; "
            f"check a plugin with {FALLBACK_FLAG}=PATH"
        )


def _drop_our_flag(parser: pytest.Parser) -> None:
    """Forget our ``--plugin`` in pytest's option lists (argparse itself is handled by the caller)."""
    for group, argument in _arguments(parser):
        if argument.dest == PLUGIN_DEST and PLUGIN_FLAG in argument.names():
            group.options.remove(argument)
    _note_yield()


def _install_conflict_handler(parser: pytest.Parser) -> None:
    """pytest 9 adds options to argparse at once: a later ``--plugin`` takes the name from us.

    This module is loaded through its entry point into every pytest run of the
    venv; a generic ``--plugin`` must never make argparse refuse a suite that
    already owns that name. Only a conflict with our own ``--plugin`` is
    resolved; any other conflict is argparse's usual error.
    """
    optparser = getattr(parser, "optparser", None)
    if optparser is None:  # pytest 8 builds argparse lazily: pytest_plugin_registered below handles it
        return

    def handle(container: Any, action: argparse.Action, conflicting: list[tuple[str, argparse.Action]]) -> None:
        if not all(other.dest == PLUGIN_DEST for _, other in conflicting):
            container._handle_conflict_error(action, conflicting)
            return
        ours = [other for _, other in conflicting]
        container._handle_conflict_resolve(action, conflicting)
        for group, argument in _arguments(parser):
            if argument._action in ours and not argument.names():
                group.options.remove(argument)
        _note_yield()

    setattr(argparse._ActionsContainer, f"_handle_conflict_{_CONFLICT_HANDLER}", handle)
    for container in [optparser, *optparser._action_groups]:
        container.conflict_handler = _CONFLICT_HANDLER


def pytest_plugin_registered(plugin: object, manager: pytest.PytestPluginManager) -> None:
    """pytest 8: a conftest.py registered after us may add its own ``--plugin``; yield the name to it."""
    if _parser_seen and getattr(_parser_seen[0], "optparser", None) is None:
        parser = _parser_seen[0]
        if _foreign_flag(parser) and any(
            PLUGIN_FLAG in arg.names() and arg.dest == PLUGIN_DEST for _, arg in _arguments(parser)
        ):
            _drop_our_flag(parser)


def _settings(config: pytest.Config) -> RunSettings:
    def cli(name: str) -> Any:
        return config.getoption("conformance_" + name.replace("-", "_"))

    def ini(name: str) -> Any:
        return config.getini(name)

    try:
        return resolve_settings(cli, ini)
    except SettingsError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance(category, severity): a check of the plugin battery")
    settings = _settings(config)
    if not settings.plugins:
        return
    # Imported here, not at the top: this module loads into every pytest process of the venv, and the
    # battery (catalogue, cffi, sandbox, reports) costs a pytest run without --plugin a noticeable start-up.
    from conformance.pytest_face.session import start_session

    start_session(config, settings)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """The notice that --plugin belongs to someone else (a run with a plugin adds its own lines)."""
    return list(_yielded_plugin_flag) or None
