"""Helpers shared by scenarios: default params, pins, references to the spec."""

from __future__ import annotations

import json
from typing import Any

from conformance.host.loader import LoadedPlugin
from conformance.host.metadata import NodeMetadata
from conformance.sandbox.context import ScenarioContext


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


def valid_params(ctx: ScenarioContext) -> dict[str, Any]:
    return schema_defaults(metadata_of(ctx)) or {}


def first_input_pin(ctx: ScenarioContext) -> str:
    metadata = metadata_of(ctx)
    if not metadata.inputs:
        ctx.skip("the plugin declares no input pin")
    return metadata.inputs[0].name


def require_processor(ctx: ScenarioContext) -> LoadedPlugin:
    plugin = ctx.plugin
    missing = plugin.missing_required()
    if missing:
        ctx.skip(f"required entries are NULL: {', '.join(missing)}")
    return plugin
