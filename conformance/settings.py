"""Run settings: one resolver for pytest options, ini values and environment variables.

Precedence is command line > environment (CONFORMANCE_*) > ini file >
default, as pytest-timeout does it; every bad value is reported in one line
naming where it came from. The CLI builds the same ``RunSettings``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from conformance.scaleout.shard import Shard, ShardError, durations_from_reports


class SettingsError(Exception):
    """A setting has a value the tool cannot use; the message is one line for the user."""


@dataclass(frozen=True)
class RunSettings:
    plugins: tuple[Path, ...]
    report_dir: Path
    budget_scale: float
    baseline: Path | None = None
    reruns: int = 1
    race: str | None = None  # "helgrind" or "drd": re-run the threading scenario under that tool
    memcheck: bool = False  # re-run failing leak and memory checks under valgrind memcheck
    notes: tuple[str, ...] = ()  # one-line remarks for the user (a plugin given twice, checked once)


@dataclass(frozen=True)
class Option:
    name: str  # the long command-line option without dashes
    ini: str
    env: str
    help: str
    default: Any = None


OPTIONS: tuple[Option, ...] = (
    Option(
        "plugin", "conformance_plugins", "CONFORMANCE_PLUGIN", "path of a plugin shared object to check (repeatable)"
    ),
    Option(
        "report-dir",
        "conformance_report_dir",
        "CONFORMANCE_REPORT_DIR",
        "directory for report.json and friends (default: reports)",
        "reports",
    ),
    Option(
        "budget-scale",
        "conformance_budget_scale",
        "CONFORMANCE_BUDGET_SCALE",
        "multiply every time budget by this factor (slow machines: 2 or 3)",
        "1.0",
    ),
    Option(
        "baseline",
        "conformance_baseline",
        "CONFORMANCE_BASELINE",
        "TOML file of accepted failures (check id, reason, optional expiry)",
    ),
    Option(
        "reruns",
        "conformance_reruns",
        "CONFORMANCE_RERUNS",
        "re-run a failing check this many times to tell flaky from failing (default 1)",
        "1",
    ),
    Option(
        "race",
        "conformance_race",
        "CONFORMANCE_RACE",
        "also run the threading scenario under valgrind (helgrind or drd) and report races in the plugin",
        "",
    ),
    Option(
        "shard",
        "conformance_shard",
        "CONFORMANCE_SHARD",
        "check only shard I of N (e.g. 2/3): the plugins split the same way on every CI runner",
        "",
    ),
    Option(
        "shard-durations",
        "conformance_shard_durations",
        "CONFORMANCE_SHARD_DURATIONS",
        "report directory of an earlier run: balance the shards by its time per plugin",
        "",
    ),
    Option(
        "memcheck",
        "conformance_memcheck",
        "CONFORMANCE_MEMCHECK",
        "re-run failing leak and memory checks under valgrind memcheck (yes/no)",
        "",
    ),
)
OPTION_BY_NAME = {option.name: option for option in OPTIONS}


def plugin_label(path: Path) -> str:
    """The name a plugin goes by in reports, settings and baselines: ``libconforming_processor.so`` ->
    ``conforming_processor``."""
    name = re.sub(r"\.so(\.\d+)*$", "", path.name)
    if name.startswith("lib") and len(name) > 3:
        name = name[3:]
    return name or "plugin"


_Number = TypeVar("_Number", int, float)


def _parse_in_range(
    value: str, source: str, name: str, parse: Callable[[str], _Number], noun: str, low: _Number, high: _Number
) -> _Number:
    """``value`` parsed as a ``noun`` within ``low..high``; anything else is a one-line SettingsError."""
    try:
        number = parse(value)
    except ValueError:
        raise SettingsError(f"{name} {value!r} from {source} is not a {noun}") from None
    if not low <= number <= high:
        raise SettingsError(f"{name} {number} from {source} must be between {low} and {high}")
    return number


def resolve_settings(
    cli: Callable[[str], Any], ini: Callable[[str], Any], environ: dict[str, str] | None = None
) -> RunSettings:
    """Combine the sources; ``cli(name)`` and ``ini(name)`` return None when unset."""
    environ = dict(os.environ) if environ is None else environ

    def pick(name: str) -> tuple[Any, str]:
        option = OPTION_BY_NAME[name]
        value = cli(name)
        if value not in (None, [], ""):
            return value, f"--{name}"
        if environ.get(option.env):
            return environ[option.env], f"environment variable {option.env}"
        value = ini(option.ini)
        if value not in (None, [], ""):
            return value, f"ini option {option.ini}"
        return option.default, "the default"

    plugins_value, _ = pick("plugin")
    if isinstance(plugins_value, str):
        plugins_value = [part for part in plugins_value.replace(os.pathsep, " ").split() if part]
    plugins, notes = distinct_plugins([Path(p) for p in (plugins_value or [])])
    if plugins:
        plugins, notes = _this_shard(plugins, notes, pick)
    report_value, _ = pick("report-dir")
    scale_value, scale_source = pick("budget-scale")
    baseline_value, _ = pick("baseline")
    reruns_value, reruns_source = pick("reruns")
    race_value, race_source = pick("race")
    race = str(race_value).strip().lower() if race_value not in (None, "", False) else None
    if race in ("1", "yes", "true", "on"):
        race = "helgrind"
    if race is not None and race not in ("helgrind", "drd"):
        raise SettingsError(f"race tool {race!r} from {race_source} must be helgrind or drd")
    memcheck_value, _ = pick("memcheck")
    memcheck = str(memcheck_value).strip().lower() in ("1", "yes", "true", "on")
    if (race is not None or memcheck) and shutil.which("valgrind") is None:
        raise SettingsError("--race and --memcheck need valgrind, which is not installed (apt-get install valgrind)")
    return RunSettings(
        plugins=plugins,
        report_dir=Path(str(report_value)),
        budget_scale=_parse_in_range(str(scale_value), scale_source, "budget scale", float, "number", 0.1, 100),
        baseline=Path(str(baseline_value)) if baseline_value else None,
        reruns=_parse_in_range(str(reruns_value), reruns_source, "reruns", int, "whole number", 0, 10),
        race=race,
        memcheck=memcheck,
        notes=notes,
    )


def _this_shard(
    plugins: tuple[Path, ...], notes: tuple[str, ...], pick: Callable[[str], tuple[Any, str]]
) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """The plugins of ``--shard I/N`` (all of them without it), with a note saying how many."""
    shard_value, shard_source = pick("shard")
    if not shard_value:
        return plugins, notes
    durations_value, _ = pick("shard-durations")
    try:
        shard = Shard.parse(str(shard_value), shard_source)
        durations = durations_from_reports(Path(str(durations_value))) if durations_value else {}
    except ShardError as error:
        raise SettingsError(str(error)) from None
    if shard.count == 1:
        return plugins, notes
    chosen = tuple(shard.pick(plugins, plugin_label, durations))
    if not chosen:
        raise SettingsError(
            f"shard {shard} holds no plugin: {len(plugins)} plugins over {shard.count} shards "
            f"(use at most {len(plugins)} shards)"
        )
    how = "balanced by an earlier run's durations" if durations else "dealt by name"
    return chosen, (*notes, f"shard {shard}: {len(chosen)} of {len(plugins)} plugins ({how})")


def distinct_plugins(paths: list[Path]) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """Each shared object once; two different files whose reports would share a directory are refused.

    A symlink given with its target (or the same path twice) is the same
    plugin: it runs once and a note says so. Two different files with the
    same library name would write the same ``reports/<name>/``: both paths
    are named so the user can see which two collide.
    """
    if not paths:
        return (), ()
    kept: dict[str, Path] = {}
    notes: list[str] = []
    for path in paths:
        key = os.path.realpath(path)
        if key in kept:
            first = kept[key]
            how = "the same path" if str(first) == str(path) else "the same file"
            notes.append(f"{path} and {first} are {how}: checked once, as {first}")
            continue
        kept[key] = path
    by_label: dict[str, Path] = {}
    for path in kept.values():
        label = plugin_label(path)
        if label in by_label:
            raise SettingsError(
                f"{by_label[label]} and {path} have the same library name {label!r} and would share "
                f"reports/{label}/: check them in separate runs with different --report-dir"
            )
        by_label[label] = path
    return tuple(kept.values()), tuple(notes)


def check_report_dir(path: Path) -> None:
    """Fail before the battery runs when reports cannot be written there (a file, read-only, immutable).

    Without this the whole battery ran first and only writing the report
    failed; a probe file is created and removed, which is what writing needs.
    """
    if path.exists() and not path.is_dir():
        raise SettingsError(f"cannot write reports to {path}: it is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".conformance-write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise SettingsError(f"cannot write reports to {path}: {error.strerror or error}") from None


# pytest's own search order for its configuration file, per directory from the current one upwards.
_INI_FILES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")


def _ini_section(path: Path) -> dict[str, Any] | None:
    """The pytest section of one candidate file, or None when the file does not configure pytest."""
    # Imported here: only ``conformance check`` reads ini files itself (pytest reads its own), and this
    # module loads into every pytest process of the venv.
    import configparser
    import tomllib

    try:
        if path.name == "pyproject.toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            section = data.get("tool", {}).get("pytest", {}).get("ini_options")
            return dict(section) if isinstance(section, dict) else None
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
    except (OSError, ValueError, configparser.Error) as error:
        raise SettingsError(f"cannot read the ini file {path}: {error}") from None
    name = {"tox.ini": "pytest", "setup.cfg": "tool:pytest"}.get(path.name, "pytest")
    if parser.has_section(name):
        return dict(parser.items(name))
    return {} if path.name in ("pytest.ini", ".pytest.ini") else None


def find_ini(start: Path) -> tuple[Path | None, dict[str, Any]]:
    """The ini file pytest would use from ``start`` and its values, so ``conformance check`` reads the
    same ``conformance_*`` settings as ``pytest --plugin`` run in the same directory."""
    for directory in (start, *start.parents):
        for name in _INI_FILES:
            candidate = directory / name
            if candidate.is_file():
                section = _ini_section(candidate)
                if section is not None:
                    return candidate, section
    return None, {}


def ini_reader(values: dict[str, Any]) -> Callable[[str], Any]:
    """``ini(name)`` over values read by ``find_ini``, typed like pytest's getini (linelist for plugins)."""

    def ini(name: str) -> Any:
        value = values.get(name)
        if value is None:
            return None
        if name == OPTION_BY_NAME["plugin"].ini:
            lines = value if isinstance(value, list) else str(value).splitlines()
            return [str(line).strip() for line in lines if str(line).strip()]
        return value

    return ini
