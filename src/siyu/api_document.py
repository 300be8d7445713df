"""What the OpenAPI document (``/api/openapi.json``) says beyond what FastAPI reads off each
route: the answers every API operation may give before its own code runs, and the one shape of
a refusal's body.

Those answers come from what stands in front of every route — the API key or console login
(``webkit.current_principal``, ``require``), the door that refuses unstorable text and
over-large bodies (``storable.StorableInput``, ``webkit.BodyLimit``) — so they are declared
here, for every operation at once, rather than on each route, where a new one would miss them.
A client generated from the document, Swagger UI and the contract test
(tests/e2e/test_api_contract.py) all read them."""

from __future__ import annotations

from typing import Any

REFUSAL = "#/components/schemas/Refusal"

# status -> what it means, by what stands in front of the operation
_CALLER = {
    "401": "No API key or console login was presented, or the key is revoked.",
    "403": "The caller lacks the operation's permission (or, signed in to the console, sent a "
    "write without its CSRF token).",
}
_DOOR = {
    "400": "The address holds a NUL character, or a JSON body is not UTF-8.",
}
_DOOR_WITH_BODY = {
    "413": "The body is over the size limit (SIYU_REQUEST_MAX_BYTES).",
    "415": "A multipart body: the API takes JSON.",
}

_REFUSAL_SCHEMA = {
    "title": "Refusal",
    "description": "Why a request was refused: in words, as the fields refused (each with "
    "where it is and why), or, for a segment rule, as an object naming the rule's part.",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "title": "Detail",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"$ref": "#/components/schemas/RefusedField"}},
                {"type": "object"},
            ],
        }
    },
}
_REFUSED_FIELD_SCHEMA = {
    "title": "RefusedField",
    "type": "object",
    "required": ["loc", "msg"],
    "properties": {
        "loc": {
            "title": "Location",
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
        "msg": {"title": "Message", "type": "string"},
        "type": {"title": "Error Type", "type": "string"},
    },
}


def declare_common_answers(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (FastAPI's, changed in place: FastAPI keeps the one it built, so this runs
    once in effect) with the answers every operation may give, and every 4xx and 5xx answer's
    body declared as a ``Refusal`` (a refusal's class gives its status: ``siyu.refusals``);
    returned."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Refusal", _REFUSAL_SCHEMA)
    schemas.setdefault("RefusedField", _REFUSED_FIELD_SCHEMA)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answers = operation.setdefault("responses", {})
            common = dict(_DOOR)
            if operation.get("security"):
                common.update(_CALLER)
            if "requestBody" in operation:
                common.update(_DOOR_WITH_BODY)
            for status, description in common.items():
                answers.setdefault(status, {"description": description})
            for status, answer in answers.items():
                if status.startswith(("4", "5")) and _said_by_default(answer):
                    answer["content"] = {"application/json": {"schema": {"$ref": REFUSAL}}}
    return document


def _said_by_default(answer: dict[str, Any]) -> bool:
    """A 4xx or 5xx answer declared without a body, or with FastAPI's validation error (a list only:
    Siyu's refusals also say why in words, or name a rule's part)."""
    content = answer.get("content")
    if not content:
        return True
    schema = content.get("application/json", {}).get("schema", {})
    return schema.get("$ref") == "#/components/schemas/HTTPValidationError"
