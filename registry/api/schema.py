"""OpenAPI additions: the Idempotency-Key header on every POST and problem+json error responses.

Every operation documents the errors it can answer with, so a client (or a schema fuzzer) finds
every status code and body shape it will see in the schema.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

from registry.api.problems import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details with a stable machine code.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "field": {"type": "string", "nullable": True},
        "reason": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": True},
        "details": {"type": "object", "additionalProperties": True},
    },
    "required": ["type", "title", "status", "code", "detail"],
    "additionalProperties": True,
}

ERROR_DESCRIPTIONS = {
    "400": "validation_error: the request is not valid (see `errors`).",
    "401": "not_authenticated or authentication_failed.",
    "403": "permission_denied.",
    "404": "not_found.",
    "405": "method_not_allowed.",
    "406": "not_acceptable.",
    "409": "double_claim, insufficient_units, rule_violation, conflict, ...",
    "415": "unsupported_media_type.",
    "422": "idempotency_key_reused.",
    "429": "rate_limited, or locked_out (token log-in after too many failures).",
}
# Answered by the HTTP server (gunicorn) before the application sees the request: no problem body.
SERVER_DESCRIPTIONS = {
    "414": "The request line (URL and query string) is too long for the server.",
}


class RegistryAutoSchema(AutoSchema):
    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description=(
                        "Repeat a POST safely: a repeat with the same key and body returns the "
                        "first response without acting again; a different body gets 422."
                    ),
                )
            )
        return parameters


def add_problem_responses(result, generator, request, public):
    """Postprocessing hook: a Problem component and error responses on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {
        PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}},
        "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}},
    }
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status_code, response in responses.items():
                # An error an operation declares itself (503 broker_unavailable, ...) with a
                # description only: its body is a problem like every other error's.
                if str(status_code)[:1] in ("4", "5") and "content" not in response:
                    response["content"] = problem
            for status_code, description in ERROR_DESCRIPTIONS.items():
                responses.setdefault(status_code, {"description": description, "content": problem})
            for status_code, description in SERVER_DESCRIPTIONS.items():
                responses.setdefault(status_code, {"description": description})
    return result
