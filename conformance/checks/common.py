"""Helpers shared by scenarios: default params, pins, references to the spec."""

from __future__ import annotations

import json
from typing import Any

from conformance.host.loader import LoadedPlugin
from conformance.host.metadata import NodeMetadata
from conformance.scenario.context import ScenarioContext


def metadata_of(ctx: ScenarioContext) -> NodeMetadata:
    metadata: NodeMetadata | None = ctx.plugin.metadata.metadata
    if metadata is None:
        ctx.skip("metadata is unusable (see the metadata checks)")
    assert metadata is not None
    return metadata


def schema_defaults(metadata: NodeMetadata) -> dict[str, Any] | None:
    """Valid params derived from the param schema: each property's ``default``.

    Returns None when the schema declares no defaults (then ``{}`` is the
    only params text the battery can call valid without knowing the plugin).
    """
    if not metadata.param_schema:
        return None
    try:
        schema = json.loads(metadata.param_schema)
    except ValueError:
        return None
    if not isinstance(schema, dict):
        return None
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return None
    defaults = {
        name: spec["default"] for name, spec in properties.items() if isinstance(spec, dict) and "default" in spec
    }
    return defaults or None


def _other_value(spec: dict[str, Any]) -> Any:
    """A valid value other than the property's default, or None when the schema allows no safe one."""
    default = spec.get("default")
    choices = spec.get("enum")
    if isinstance(choices, list):
        others = [choice for choice in choices if choice != default]
        return others[0] if others else None
    if isinstance(default, bool):
        return not default
    if isinstance(default, int | float):
        low, high = spec.get("minimum"), spec.get("maximum")
        for candidate in (default + 1, default - 1, default / 2 if default else None):
            if candidate is None or candidate == default:
                continue
            if isinstance(default, int) and not isinstance(candidate, int):
                continue
            if (isinstance(low, int | float) and candidate < low) or (
                isinstance(high, int | float) and candidate > high
            ):
                continue
            return candidate
    if isinstance(default, str) and "enum" not in spec and "pattern" not in spec and "format" not in spec:
        return default + "-2" if "maxLength" not in spec else None
    return None


def variant_params(metadata: NodeMetadata) -> dict[str, Any] | None:
    """Valid params that differ from ``schema_defaults``: each property that allows it takes another value.

    Used to tell instances apart (two instances with different params must
    behave differently only when the params matter). None when no property
    can be changed safely.
    """
    defaults = schema_defaults(metadata)
    if defaults is None or not metadata.param_schema:
        return None
    properties = json.loads(metadata.param_schema).get("properties", {})
    changed = dict(defaults)
    for name in defaults:
        spec = properties.get(name)
        other = _other_value(spec) if isinstance(spec, dict) else None
        if other is not None:
            changed[name] = other
    return changed if changed != defaults else None


def valid_params(ctx: ScenarioContext) -> dict[str, Any]:
    return schema_defaults(metadata_of(ctx)) or {}


def require_processor(ctx: ScenarioContext) -> LoadedPlugin:
    plugin = ctx.plugin
    missing = plugin.missing_required()
    if missing:
        ctx.skip(f"required entries are NULL: {', '.join(missing)}", static=True)
    return plugin
