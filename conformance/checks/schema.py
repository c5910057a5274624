"""schema: the runtime param schema (ABI.md 4.7, 8.8)."""

from __future__ import annotations

import json

from conformance.checks.common import require_processor
from conformance.checks.model import Applicability, Needs, Severity
from conformance.checks.registry import check
from conformance.checks.traffic import with_instance
from conformance.host.instance import CallResult
from conformance.scenario.context import ScenarioContext

RUNTIME_SCHEMA = Applicability(needs=Needs(entry="get_runtime_param_schema"))


def _query(ctx: ScenarioContext) -> CallResult | None:
    require_processor(ctx)
    instance = with_instance(ctx)
    if instance is None:
        return None
    try:
        return instance.runtime_schema()
    finally:
        instance.destroy()


def _well_formed(ctx: ScenarioContext) -> None:
    result = _query(ctx)
    if result is None:
        return
    ctx.expect(result.bool_ok, "CSchemaResult.success is 0 or 1", f"byte {result.success_byte}")
    if result.success:
        if result.schema is None:
            ctx.expect(True, "no runtime schema")
            return
        ctx.expect(result.schema_problem is None, "json_schema is UTF-8", result.schema_problem or "")
        try:
            json.loads(result.schema)
            parsed = True
        except ValueError as error:
            parsed = False
            ctx.expect(False, "json_schema parses as JSON (else the host silently drops it)", str(error))
        if parsed:
            ctx.observe("runtime_schema", result.schema[:500])
    else:
        ctx.expect(
            result.message is not None, "a failed schema query carries an error message", "NULL message", warn_only=True
        )


def _is_object(ctx: ScenarioContext) -> None:
    result = _query(ctx)
    if result is None or not result.success or result.schema is None:
        ctx.skip("no runtime schema to inspect")
        return
    try:
        value = json.loads(result.schema)
    except ValueError:
        ctx.skip("the runtime schema is not JSON (see schema.runtime)")
        return
    ctx.expect(
        isinstance(value, dict),
        "the runtime schema is a JSON object (it is deep-merged into the static one)",
        f"a JSON {type(value).__name__}",
    )


check(
    "schema.runtime",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.7, 8.8",
    rationale="get_runtime_param_schema answers {true, NULL} (none), {true, JSON} or {false, message}; invalid JSON "
    "is silently dropped by the host.",
    applies=RUNTIME_SCHEMA,
)(_well_formed)
check(
    "schema.runtime-object",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 4.7",
    rationale="The engine deep-merges the runtime schema into the static param_schema; it should be an object.",
    applies=RUNTIME_SCHEMA,
)(_is_object)
