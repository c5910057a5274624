"""params: update_params at any time, valid or not, and the instance keeps working (ABI.md 4.6, 8.3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from conformance.checks.common import require_processor, valid_params
from conformance.checks.model import Severity
from conformance.checks.registry import FamilyRow, declare_family
from conformance.checks.traffic import drive, with_instance
from conformance.scenario.context import Scenario, ScenarioContext


@dataclass(frozen=True, kw_only=True)
class UpdateCase(FamilyRow):
    """One update_params check: the params sent (``"valid"``: built from the schema) and what must follow."""

    params: Any
    label: str
    expect_success: bool | None
    then_works: bool = False


UPDATE_CASES: tuple[UpdateCase, ...] = (
    UpdateCase(
        suffix="update-valid",
        params="valid",
        label="valid params",
        expect_success=True,
        rationale="The host forwards params updates at any time, also before the first packet; valid ones must apply.",
        abi_ref="ABI.md 4.6; HOST.md 1.7",
    ),
    UpdateCase(
        suffix="update-invalid-json",
        params="{broken",
        label="invalid JSON",
        expect_success=False,
        rationale="Invalid params must be refused with an error, never a crash.",
        abi_ref="ABI.md 4.6, 8.3",
    ),
    UpdateCase(
        suffix="update-invalid-utf8",
        params=b'{"label":"\xc3\x28"}',
        label="invalid UTF-8",
        expect_success=False,
        rationale="Params that are not UTF-8 must be refused with an error, never a crash.",
        abi_ref="ABI.md 4.6",
    ),
    UpdateCase(
        suffix="keeps-working",
        params="{broken",
        label="invalid JSON",
        expect_success=None,
        then_works=True,
        rationale="A failed update is not fatal: the host logs a warning and keeps the node running with the old "
        "params, so the instance must keep working.",
        abi_ref="ABI.md 4.6; HOST.md 1.7",
    ),
    UpdateCase(
        suffix="update-null",
        params=None,
        label="NULL",
        expect_success=None,
        rationale="The contract allows NULL ('no params'); a plugin must not crash on it.",
        abi_ref="ABI.md 4.6",
        severity=Severity.RECOMMENDED,
    ),
    UpdateCase(
        suffix="update-json-null",
        params="null",
        label="the JSON text null",
        expect_success=None,
        rationale="JSON null is a valid text the host may send; no crash.",
        abi_ref="ABI.md 4.6",
        severity=Severity.RECOMMENDED,
    ),
)


def _update(case: UpdateCase) -> Scenario:
    params, label, expect_success = case.params, case.label, case.expect_success

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
            if case.then_works:
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


declare_family("params.", UPDATE_CASES, _update)
