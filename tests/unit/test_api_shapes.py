"""Every API route that answers JSON declares what it answers (a ``response_model``), so the API
document describes each body and the contract test holds the answers to it.

A route without one would be documented as an open object (or as nothing at all); its keys
could change without anyone reading the document noticing.
"""

from __future__ import annotations

from typing import Any

from siyu.app import create_app

# answers that are not JSON: a file or an image, and the 204 of a deletion
NOT_JSON = {
    ("delete", "/api/v1/segments/{segment_id}"),
    ("get", "/api/v1/segments/{segment_id}/export"),
    ("get", "/api/v1/wecom/live-codes/{code_id}/qr.png"),
    ("get", "/api/v1/wecom/group-codes/{code_id}/qr.png"),
}


def _success_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    for status in ("200", "201"):
        content = operation.get("responses", {}).get(status, {}).get("content", {})
        if "application/json" in content:
            schema: dict[str, Any] = content["application/json"].get("schema") or {}
            return schema
    return None


def _declared(schema: dict[str, Any]) -> bool:
    """A named model, or a list of them (not ``{}`` nor an open object)."""
    if "$ref" in schema:
        return True
    items = schema.get("items")
    return schema.get("type") == "array" and isinstance(items, dict) and "$ref" in items


def test_every_json_answer_has_a_declared_shape() -> None:
    document = create_app().openapi()
    loose, declared = [], 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method, path) in NOT_JSON:
                continue
            schema = _success_schema(operation)
            if schema is not None and _declared(schema):
                declared += 1
            else:
                loose.append(f"{method.upper()} {path}: {schema}")
    assert not loose, "\n".join(loose)
    assert declared >= 62
