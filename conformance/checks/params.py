"""params: update_params at any time, valid or not, and the instance keeps working (ABI.md 4.6, 8.3)."""

from __future__ import annotations

import json
from typing import Any

from conformance.checks.common import require_processor, valid_params
from conformance.checks.model import Check, Severity
from conformance.checks.registry import register_checks
from conformance.checks.traffic import drive, with_instance
from conformance.scenario.context import ScenarioContext


def _update(params: Any, label: str, *, expect_success: bool | None, then_works: bool = False) -> Any:
    def scenario(ctx: ScenarioContext) -> None:
        require_processor(ctx)
        instance = with_instance(ctx)
        if instance is None:
            return
        try:
            value = valid_params(ctx) if params == "valid" else params
            result = instance.update_params(
                json.dumps(value, separators=(",", ":")) if isinstance(value, dict) else value
            )
            ctx.expect(result.bool_ok, "CResult.success is 0 or 1", f"byte {result.success_byte}")
            if expect_success is True:
                ctx.expect(result.success, f"update_params({label}) succeeds", result.describe())
            elif expect_success is False:
                ctx.expect(not result.success, f"update_params({label}) reports an error", "it returned success")
                ctx.expect(
                    result.message is not None,
                    "the error carries a message",
                    "NULL message: the host logs 'Failed to update parameters' with no detail",
                    warn_only=True,
                )
            if then_works:
                run = drive(ctx, instance)
                failed = [r for r in run.results if not r.success]
                ctx.expect(
                    not failed,
                    "the instance keeps working with its old params after the failed update",
                    "; ".join(f"{r.entry}: {r.describe()}" for r in failed[:3]),
                )
        finally:
            instance.destroy()

    return scenario


def _check(suffix: str, scenario: Any, rationale: str, ref: str, severity: Severity = Severity.REQUIRED) -> Check:
    return Check(f"params.{suffix}", "params", severity, ref, rationale, scenario)


register_checks(
    [
        _check(
            "update-valid",
            _update("valid", "valid params", expect_success=True),
            "The host forwards params updates at any time, also before the first packet; valid ones must apply.",
            "ABI.md 4.6; HOST.md 1.7",
        ),
        _check(
            "update-invalid-json",
            _update("{broken", "invalid JSON", expect_success=False),
            "Invalid params must be refused with an error, never a crash.",
            "ABI.md 4.6, 8.3",
        ),
        _check(
            "update-invalid-utf8",
            _update(b'{"label":"\xc3\x28"}', "invalid UTF-8", expect_success=False),
            "Params that are not UTF-8 must be refused with an error, never a crash.",
            "ABI.md 4.6",
        ),
        _check(
            "keeps-working",
            _update("{broken", "invalid JSON", expect_success=None, then_works=True),
            "A failed update is not fatal: the host logs a warning and keeps the node running with the old "
            "params, so the instance must keep working.",
            "ABI.md 4.6; HOST.md 1.7",
        ),
        _check(
            "update-null",
            _update(None, "NULL", expect_success=None),
            "The contract allows NULL ('no params'); a plugin must not crash on it.",
            "ABI.md 4.6",
            Severity.RECOMMENDED,
        ),
        _check(
            "update-json-null",
            _update("null", "the JSON text null", expect_success=None),
            "JSON null is a valid text the host may send; no crash.",
            "ABI.md 4.6",
            Severity.RECOMMENDED,
        ),
    ]
)
