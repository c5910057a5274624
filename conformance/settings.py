"""Run settings: one resolver for pytest options, ini values and environment variables.

Precedence is command line > environment (CONFORMANCE_*) > ini file >
default, as pytest-timeout does it; every bad value is reported in one line
naming where it came from. The CLI builds the same ``RunSettings``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
        "memcheck",
        "conformance_memcheck",
        "CONFORMANCE_MEMCHECK",
        "re-run failing leak and memory checks under valgrind memcheck (yes/no)",
        "",
    ),
)
OPTION_BY_NAME = {option.name: option for option in OPTIONS}


def _parse_scale(value: str, source: str) -> float:
    try:
        scale = float(value)
    except ValueError:
        raise SettingsError(f"budget scale {value!r} from {source} is not a number") from None
    if not 0.1 <= scale <= 100:
        raise SettingsError(f"budget scale {scale} from {source} must be between 0.1 and 100")
    return scale


def _parse_reruns(value: str, source: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise SettingsError(f"reruns {value!r} from {source} is not a whole number") from None
    if not 0 <= count <= 10:
        raise SettingsError(f"reruns {count} from {source} must be between 0 and 10")
    return count


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
    plugins = tuple(Path(p) for p in (plugins_value or []))
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
    if race is not None or memcheck:
        import shutil

        if shutil.which("valgrind") is None:
            raise SettingsError(
                "--race and --memcheck need valgrind, which is not installed (apt-get install valgrind)"
            )
    return RunSettings(
        plugins=plugins,
        report_dir=Path(str(report_value)),
        budget_scale=_parse_scale(str(scale_value), scale_source),
        baseline=Path(str(baseline_value)) if baseline_value else None,
        reruns=_parse_reruns(str(reruns_value), reruns_source),
        race=race,
        memcheck=memcheck,
    )
