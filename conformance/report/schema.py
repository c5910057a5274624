"""The JSON Schema of report.json, shipped in the package, and a validator for consumers and tests.

``jsonschema`` is a development dependency only (the ``dev`` extra): the tool
never needs it to write reports, so it is imported when validation is asked for.
"""

from __future__ import annotations

import importlib
import json
from functools import lru_cache
from importlib import resources
from typing import Any

SCHEMA_FILE = "report.schema.json"


@lru_cache(maxsize=1)
def report_schema() -> dict[str, Any]:
    text = resources.files("conformance.report").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_errors(report: Any) -> list[str]:
    """Every violation of the schema, one line each (``path: message``); empty when the report is valid."""
    jsonschema = importlib.import_module("jsonschema")  # untyped, and only in the dev extra
    validator = jsonschema.Draft202012Validator(
        report_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}" for error in errors]
