"""Every API error as ``application/problem+json`` (RFC 9457) with a stable machine ``code``.

Codes clients can rely on: ``validation_error`` (with ``errors`` per field), ``not_authenticated``,
``authentication_failed``, ``permission_denied``, ``not_found``, ``method_not_allowed``,
``unsupported_media_type``, ``not_acceptable``, ``rate_limited``, ``locked_out`` (429: too
many failed token log-ins for this username from this address), ``idempotency_key_reused``
(422), ``conflict`` (lock timeout or concurrent change: safe to retry), and the registry's own
409 codes: ``double_claim``, ``insufficient_units``, ``rule_violation``, ``account_not_active``,
``invalid_status_change``, ``already_revoked`` and the other codes services raise.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from psycopg import errors as pg_errors
from rest_framework import exceptions, status
from rest_framework.response import Response

from registry import serials as serial_numbers
from registry.errors import DomainError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

TITLES = {
    "validation_error": _("The request is not valid."),
    "not_authenticated": _("Authentication is required."),
    "authentication_failed": _("The credentials were not accepted."),
    "permission_denied": _("You may not do this."),
    "not_found": _("Not found."),
    "method_not_allowed": _("Method not allowed."),
    "not_acceptable": _("The requested representation is not available."),
    "unsupported_media_type": _("Send JSON (application/json)."),
    "rate_limited": _("Too many writes; slow down."),
    "locked_out": _("Too many failed log-ins; try again later."),
    "idempotency_key_reused": _("This Idempotency-Key was used for a different request."),
    "conflict": _("A concurrent change got in the way; the request may be retried."),
    "double_claim": _("These units are already claimed."),
    "insufficient_units": _("The account does not hold enough units."),
    "rule_violation": _("A registry rule refuses this operation."),
}


class ApiProblem(exceptions.APIException):
    """A problem raised by the API layer itself (not by a service). ``retry_after`` (seconds)
    becomes the Retry-After header."""

    def __init__(
        self,
        detail: Any,
        *,
        code: str,
        status_code: int,
        retry_after: int | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail=str(detail), code=code)
        self.status_code = status_code
        self.problem_code = code
        self.retry_after = retry_after
        self.extra = extra


def problem_response(
    *,
    status_code: int,
    code: str,
    detail: Any,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {
        "type": f"urn:registry:problem:{code}",
        "title": str(TITLES.get(code, detail)),
        "status": status_code,
        "code": code,
        "detail": str(detail),
    }
    body.update({name: value for name, value in extra.items() if value is not None})
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def _domain_problem(error: DomainError, request) -> Response:
    status_code = error.http_status
    if status_code == 404 and error.field and getattr(request, "method", "GET") != "GET":
        # A body field names something that does not exist: the input is wrong, not the URL.
        status_code = 400
    if status_code == 400:
        field = error.field or "non_field_errors"
        return problem_response(
            status_code=400,
            code="validation_error",
            detail=error.message,
            errors={field: [{"message": str(error.message), "code": error.code}]},
            reason=error.code,
            details=error.details or None,
        )
    code = error.code
    if status_code == 403:
        code = "permission_denied"
    elif status_code == 404:
        code = "not_found"
    return problem_response(
        status_code=status_code,
        code=code,
        detail=error.message,
        field=error.field,
        details=error.details,
    )


def _flatten(detail: Any) -> Any:
    """DRF's ErrorDetail tree as plain {field: [{message, code}]}."""
    if isinstance(detail, dict):
        return {str(name): _flatten(value) for name, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(value) for value in detail]
    return {"message": str(detail), "code": getattr(detail, "code", "invalid")}


def _is_retryable_database_error(error: Exception) -> bool:
    cause = error.__cause__
    return isinstance(
        cause,
        pg_errors.LockNotAvailable
        | pg_errors.SerializationFailure
        | pg_errors.DeadlockDetected
        | pg_errors.QueryCanceled
        | pg_errors.UniqueViolation
        | pg_errors.ExclusionViolation,
    )


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return _domain_problem(exc, context.get("request"))
    if isinstance(exc, serial_numbers.SerialError):
        return problem_response(
            status_code=400,
            code="validation_error",
            detail=exc.message,
            errors={exc.field: [{"message": exc.message, "code": exc.code}]},
            reason=exc.code,
        )
    if isinstance(exc, ApiProblem):
        return problem_response(
            status_code=exc.status_code,
            code=exc.problem_code,
            detail=exc.detail,
            headers={"Retry-After": str(exc.retry_after)} if exc.retry_after else None,
            **exc.extra,
        )
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return problem_response(status_code=404, code="not_found", detail=_("Not found."))
    if isinstance(exc, IntegrityError | OperationalError) and _is_retryable_database_error(exc):
        logger.info("retryable database error answered 409: %s", exc)
        return problem_response(
            status_code=409,
            code="conflict",
            detail=_("A concurrent change got in the way; retry the request."),
        )
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django answer 500 and log it
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        return problem_response(
            status_code=400,
            code="validation_error",
            detail=_("The request is not valid."),
            errors=_flatten(exc.detail)
            if isinstance(exc.detail, dict)
            else {"non_field_errors": _flatten(exc.detail)},
        )
    codes = {
        exceptions.ParseError: "validation_error",
        exceptions.NotAuthenticated: "not_authenticated",
        exceptions.AuthenticationFailed: "authentication_failed",
        exceptions.PermissionDenied: "permission_denied",
        exceptions.NotFound: "not_found",
        exceptions.MethodNotAllowed: "method_not_allowed",
        exceptions.NotAcceptable: "not_acceptable",
        exceptions.UnsupportedMediaType: "unsupported_media_type",
        exceptions.Throttled: "rate_limited",
    }
    code = next(
        (name for kind, name in codes.items() if isinstance(exc, kind)),
        "validation_error" if exc.status_code == status.HTTP_400_BAD_REQUEST else "error",
    )
    return problem_response(
        status_code=exc.status_code, code=code, detail=exc.detail, headers=headers or None
    )


def _problem_json(status_code: int, code: str, detail: Any) -> JsonResponse:
    body = {
        "type": f"urn:registry:problem:{code}",
        "title": str(TITLES.get(code, detail)),
        "status": status_code,
        "code": code,
        "detail": str(detail),
    }
    return JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def _is_api(request) -> bool:
    return request.path_info.startswith("/api/")


def not_found(request, exception=None):
    """``handler404``: a URL under /api/ that no route matches (``/api/v1/blocks/0.5/``) answers
    problem+json like every other API error; other paths get Django's page."""
    if _is_api(request):
        return _problem_json(404, "not_found", _("Not found."))
    return defaults.page_not_found(request, exception)


def server_error(request):
    """``handler500``: an unhandled error under /api/ answers problem+json (code ``error``)."""
    if _is_api(request):
        return _problem_json(500, "error", _("A server error occurred."))
    return defaults.server_error(request)
