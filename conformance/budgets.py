"""Per-entry-point time budgets.

A budget bounds one call into the plugin: a call still running when its budget
ends is "wedged" and the child is stopped. ``SLOW_THRESHOLDS`` are much lower:
a call that returns between its slow threshold and its budget is "slow", a
warning. The real host waits 300 s before it gives up on a call (HOST.md 1.5);
a validator cannot wait that long, so budgets are what a healthy plugin needs
with a wide margin, and ``--budget-scale`` stretches all of them at once for
slow machines.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

DEFAULT_BUDGETS_S: Mapping[str, float] = MappingProxyType(
    {
        "dlopen": 5.0,
        "streamkit_native_plugin_api": 1.0,
        "get_metadata": 1.0,
        "create_instance": 2.0,
        "set_log_enabled_callback": 1.0,
        "process_packet": 1.0,
        "flush": 1.0,
        "update_params": 1.0,
        "tick": 1.0,
        "on_upstream_hint": 1.0,
        "get_runtime_param_schema": 1.0,
        "get_source_config": 1.0,
        "destroy_instance": 2.0,
        "dlclose": 5.0,
        "free_fn": 1.0,
        "join": 2.0,
    }
)

SLOW_THRESHOLDS_S: Mapping[str, float] = MappingProxyType(
    {
        "create_instance": 0.5,
        "set_log_enabled_callback": 0.05,
        "process_packet": 0.1,
        "flush": 0.1,
        "update_params": 0.1,
        "tick": 0.1,
        "on_upstream_hint": 0.05,
        "get_runtime_param_schema": 0.1,
        "get_source_config": 0.05,
        "destroy_instance": 0.25,
        "get_metadata": 0.05,
    }
)

FALLBACK_BUDGET_S = 2.0


def budget_for(entry: str, scale: float = 1.0) -> float:
    return DEFAULT_BUDGETS_S.get(entry, FALLBACK_BUDGET_S) * scale


def slow_threshold_for(entry: str, scale: float = 1.0) -> float:
    return SLOW_THRESHOLDS_S.get(entry, 0.1) * scale
