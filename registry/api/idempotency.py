"""``Idempotency-Key`` on every POST.

The first request under a key claims a row (caller, key) before it acts; the response it gets is
stored there. A repeat with the same method, path and body gets that stored status and body
without acting again (header ``Idempotent-Replayed: true``); the same key with a different request
gets 422 ``idempotency_key_reused``; a repeat while the first is still running gets 409
``conflict``. Server errors are not stored, so the client can retry them. Rows are purged after
``API_IDEMPOTENCY_HOURS`` (at least 24).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from registry.api.problems import ApiProblem
from registry.ledger import canonical_json, sha256_hex
from registry.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


@dataclass
class Claimed:
    """This request owns the key and must store its response."""

    record_id: int


class Replay(Exception):
    """A stored first response answers this request."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(record.key)
        self.record = record


def _lifetime() -> dt.timedelta:
    return dt.timedelta(hours=settings.API_IDEMPOTENCY_HOURS)


def request_hash(request) -> str:
    try:
        body = canonical_json(request.data)
    except (TypeError, ValueError):
        body = request.body.decode("utf-8", "replace")
    return sha256_hex(canonical_json([request.method, request.path, body]))


def begin(request) -> Claimed | None:
    """Claim the request's key, or raise ``Replay`` / a problem. None when no key was sent."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiProblem(
            _("Idempotency-Key must be 1 to 255 printable characters."),
            code="validation_error",
            status_code=400,
            errors={HEADER: [{"message": "invalid", "code": "invalid"}]},
        )
    fingerprint = request_hash(request)
    now = timezone.now()
    with connection.cursor() as cursor:
        # ON CONFLICT makes two simultaneous first requests agree on one owner.
        cursor.execute(
            f"""
            INSERT INTO {IdempotencyRecord._meta.db_table}
                (user_id, key, request_hash, method, path, content_type, created_at)
            VALUES (%s, %s, %s, %s, %s, '', %s)
            ON CONFLICT (user_id, key) DO NOTHING
            RETURNING id
            """,
            [request.user.pk, key, fingerprint, request.method, request.path[:500], now],
        )
        inserted = cursor.fetchone()
    if inserted:
        return Claimed(record_id=inserted[0])
    record = IdempotencyRecord.objects.get(user_id=request.user.pk, key=key)
    if record.created_at < now - _lifetime():
        # Expired but not yet purged: the key starts a new life (compare-and-set on its age).
        taken = IdempotencyRecord.objects.filter(pk=record.pk, created_at=record.created_at).update(
            request_hash=fingerprint,
            method=request.method,
            path=request.path[:500],
            status_code=None,
            content_type="",
            response_body=None,
            created_at=now,
        )
        if taken:
            return Claimed(record_id=record.pk)
        record.refresh_from_db()
    if record.request_hash != fingerprint:
        raise ApiProblem(
            _(
                "Idempotency-Key %(key)s was first used for a different request; "
                "use a new key for a new request."
            )
            % {"key": key},
            code="idempotency_key_reused",
            status_code=422,
        )
    if record.status_code is None:
        raise ApiProblem(
            _("The first request with this Idempotency-Key is still being processed."),
            code="conflict",
            status_code=409,
        )
    raise Replay(record)


def forget(claimed: Claimed) -> None:
    """Release a claimed key without a stored response (a server error), so a retry can act."""
    IdempotencyRecord.objects.filter(pk=claimed.record_id).delete()


def finish(claimed: Claimed, response: Response) -> None:
    """Store the first response; forget the key after a server error so a retry can act."""
    if response.status_code >= 500:
        forget(claimed)
        return
    body = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
    IdempotencyRecord.objects.filter(pk=claimed.record_id).update(
        status_code=response.status_code,
        content_type=response.content_type or "application/json",
        response_body=body,
    )


def replay_response(record: IdempotencyRecord) -> Response:
    return Response(
        record.response_body,
        status=record.status_code,
        content_type=record.content_type or None,
        headers={"Idempotent-Replayed": "true"},
    )


def purge(*, now: dt.datetime | None = None) -> int:
    """Delete records older than their lifetime; returns how many."""
    cutoff = (now or timezone.now()) - _lifetime()
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
