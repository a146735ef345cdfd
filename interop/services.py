"""Imports from other registries and the linking of their records to this registry's projects.

``import_batch_create`` stores a file and queues it; ``import_batch_run`` (the Celery task's
body) turns each row into an external record in a transaction of its own, so a row is written
whole (record, suggestions, flag, row result, progress) or not at all, and a re-run skips the
rows already answered. Records link to projects by declared identifiers
(``ProjectIdentifier`` rows of live projects: a record whose identifier a live project holds is
linked to that project, never proposed as a new one) or by an administrator confirming a
scored match. Once linked, an external issuance takes part in rule R15 (issuance.rules); an
import or a confirmation that duplicates a live issuance of this registry is flagged in the ledger.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.backends.postgresql.psycopg_any import DateRange
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from interop import formats, selectors
from interop.models import ExternalRecord, ImportBatch, ImportRow, MatchSuggestion
from registry import serials as serial_numbers
from registry.errors import Conflict, DomainError, NotFound
from registry.ledger import record_event
from registry.models import LedgerEvent, Mechanism, Project, UnitClaim
from registry.permissions import require_administrator

logger = logging.getLogger(__name__)

COUNTERS = {
    ImportRow.Outcome.IMPORTED: "imported_count",
    ImportRow.Outcome.FLAGGED: "flagged_count",
    ImportRow.Outcome.DUPLICATE: "duplicate_count",
    ImportRow.Outcome.INVALID: "invalid_count",
}


# --- creating a batch -------------------------------------------------------------------------


def import_batch_create(
    *,
    actor: User,
    layout: str,
    file_format: str,
    content: str | bytes,
    filename: str = "",
    queue: bool = True,
) -> ImportBatch:
    """Store a file of another registry's records and queue its import (after commit).

    Guarantees: the file is readable as a whole (encoding, CSV or JSON syntax, the layout's
    columns) or nothing is stored; one ``external.imported`` ledger event (stage "queued") names
    the file's SHA-256; the Celery task starts only once the batch is committed.
    """
    require_administrator(actor, _("import records of other registries"))
    if layout not in ImportBatch.Layout.values:
        raise DomainError(
            _("Unknown layout %(layout)s.") % {"layout": layout},
            code="unknown_layout",
            field="layout",
        )
    if file_format not in ImportBatch.Format.values:
        raise DomainError(
            _("The format must be csv or json."), code="unknown_format", field="format"
        )
    size = len(content) if isinstance(content, bytes) else len(content.encode("utf-8"))
    if size > settings.REGISTRY_IMPORT_MAX_BYTES:
        raise DomainError(
            _("The file is larger than %(limit)s bytes.")
            % {"limit": settings.REGISTRY_IMPORT_MAX_BYTES},
            code="file_too_large",
            field="file",
        )
    try:
        text = formats.decode(content) if isinstance(content, bytes) else content
        rows = formats.read_rows(text, file_format)
        formats.check_columns(layout, file_format, rows)
    except formats.FileError as error:
        raise DomainError(str(error), code="unreadable_file", field="file") from None
    if not rows:
        raise DomainError(_("The file holds no records."), code="empty_file", field="file")
    if len(rows) > settings.REGISTRY_IMPORT_MAX_ROWS:
        raise DomainError(
            _("At most %(limit)s records in one import.")
            % {"limit": settings.REGISTRY_IMPORT_MAX_ROWS},
            code="too_many_rows",
            field="file",
        )
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            layout=layout,
            format=file_format,
            filename=filename[:255],
            content=text,
            content_sha256=digest,
            total=len(rows),
            created_by=actor,
        )
        record_event(
            kind=LedgerEvent.Kind.EXTERNAL_IMPORTED,
            actor=actor,
            subjects=[f"import:{batch.pk}"],
            payload={
                "batch": batch.pk,
                "stage": "queued",
                "layout": layout,
                "format": file_format,
                "filename": batch.filename,
                "sha256": digest,
                "rows": len(rows),
            },
        )
        if queue:
            from interop.tasks import import_batch_run_task

            batch_id = batch.pk
            transaction.on_commit(lambda: import_batch_run_task.delay(batch_id))
    return batch


# --- running a batch --------------------------------------------------------------------------


def _move(batch_id: int, from_statuses: list[str], to_status: str, **changes: Any) -> bool:
    """Compare-and-set of a batch's status: the one code path that changes it."""
    return bool(
        ImportBatch.objects.filter(pk=batch_id, status__in=from_statuses).update(
            status=to_status, **changes
        )
    )


@dataclass
class _RunCache:
    """Per-run lookups, so a file of thousands of rows does not ask the same thing each row."""

    identifiers: dict[str, dict[str, int]] = field(default_factory=dict)
    mechanisms: dict[str, Mechanism | None] = field(default_factory=dict)

    def project_id(self, source: str, external_project_id: str) -> int | None:
        if not external_project_id:
            return None
        key = selectors.identifier_key(source)
        if key not in self.identifiers:
            self.identifiers[key] = selectors.live_projects_by_identifier(key)
        return self.identifiers[key].get(external_project_id.strip())

    def mechanism(self, code: str) -> Mechanism | None:
        if code not in self.mechanisms:
            self.mechanisms[code] = Mechanism.objects.filter(code=code).first()
        return self.mechanisms[code]


def import_batch_run(*, batch_id: int) -> ImportBatch:
    """Import every row of a queued batch not answered yet, one transaction per row.

    Guarantees: a row's record, suggestions, flag event, row result and progress counters are
    committed together or not at all; a re-run (a redelivered task, a second worker) skips rows
    already answered and never creates a record twice (unique per source and external id); a
    finished batch is left alone. The batch ends done, or failed with the error if the run breaks.
    """
    if not _move(
        batch_id,
        [ImportBatch.Status.QUEUED, ImportBatch.Status.RUNNING],
        ImportBatch.Status.RUNNING,
    ):
        return ImportBatch.objects.get(pk=batch_id)
    batch = ImportBatch.objects.select_related("created_by").get(pk=batch_id)
    if batch.started_at is None:
        ImportBatch.objects.filter(pk=batch_id, started_at__isnull=True).update(
            started_at=timezone.now()
        )
    try:
        rows = formats.read_rows(batch.content, batch.format)
        answered = set(batch.rows.values_list("row_number", flat=True))
        cache = _RunCache()
        for row_number, raw in enumerate(rows, start=1):
            if row_number in answered:
                continue
            _import_row(batch=batch, row_number=row_number, raw=raw, cache=cache)
    except Exception as error:
        logger.exception("import batch %s failed", batch_id)
        _move(
            batch_id,
            [ImportBatch.Status.RUNNING],
            ImportBatch.Status.FAILED,
            error=f"{type(error).__name__}: {error}"[:2000],
            finished_at=timezone.now(),
        )
        raise
    _move(
        batch_id,
        [ImportBatch.Status.RUNNING],
        ImportBatch.Status.DONE,
        finished_at=timezone.now(),
    )
    return ImportBatch.objects.get(pk=batch_id)


def _row_errors(valid: formats.ValidRow, cache: _RunCache) -> dict[str, list[str]]:
    """What the registry's reference data says about an otherwise well-formed row."""
    mechanism = cache.mechanism(valid.mechanism_code)
    if (
        mechanism is not None
        and mechanism.unit_kind != valid.unit_kind
        and not mechanism.accepts_derived_units
    ):
        return {
            "unit": [
                str(
                    _("%(mechanism)s is counted in %(unit)s.")
                    % {
                        "mechanism": mechanism.code,
                        "unit": formats.UNIT_NAMES[mechanism.unit_kind],
                    }
                )
            ]
        }
    return {}


def _import_row(
    *, batch: ImportBatch, row_number: int, raw: dict[str, Any], cache: _RunCache
) -> ImportRow | None:
    canonical = formats.to_canonical(batch.layout, raw)
    valid, errors = formats.validate(canonical)
    if valid is not None:
        errors = _row_errors(valid, cache)
    try:
        with transaction.atomic():
            if errors:
                result = ImportRow.objects.create(
                    batch=batch,
                    row_number=row_number,
                    outcome=ImportRow.Outcome.INVALID,
                    errors=errors,
                )
            else:
                result = _import_valid_row(
                    batch=batch, row_number=row_number, raw=raw, valid=valid, cache=cache
                )
            counter = COUNTERS[result.outcome]
            ImportBatch.objects.filter(pk=batch.pk).update(
                processed=F("processed") + 1, **{counter: F(counter) + 1}
            )
            return result
    except IntegrityError:
        # Another run of this batch answered the row, or another batch imported the same record
        # first: the row is answered again from what is committed now.
        if ImportRow.objects.filter(batch=batch, row_number=row_number).exists():
            return None
        if valid is None:
            raise
        existing = ExternalRecord.objects.filter(
            source=valid.source, external_id=valid.external_id
        ).first()
        if existing is None:
            raise
        with transaction.atomic():
            result = ImportRow.objects.create(
                batch=batch,
                row_number=row_number,
                outcome=ImportRow.Outcome.DUPLICATE,
                external_record=existing,
            )
            ImportBatch.objects.filter(pk=batch.pk).update(
                processed=F("processed") + 1, duplicate_count=F("duplicate_count") + 1
            )
            return result


def _import_valid_row(
    *,
    batch: ImportBatch,
    row_number: int,
    raw: dict[str, Any],
    valid: formats.ValidRow,
    cache: _RunCache,
) -> ImportRow:
    existing = ExternalRecord.objects.filter(
        source=valid.source, external_id=valid.external_id
    ).first()
    if existing is not None:
        return ImportRow.objects.create(
            batch=batch,
            row_number=row_number,
            outcome=ImportRow.Outcome.DUPLICATE,
            external_record=existing,
        )
    project_id = cache.project_id(valid.source, valid.external_project_id)
    record = ExternalRecord.objects.create(
        source=valid.source,
        external_id=valid.external_id,
        kind=valid.kind,
        mechanism_code=valid.mechanism_code,
        unit_kind=valid.unit_kind,
        external_project_id=valid.external_project_id,
        project_name=valid.project_name,
        country=valid.country,
        province=valid.province,
        location=valid.location,
        technology=valid.technology,
        capacity_mw=valid.capacity_mw,
        period=DateRange(valid.period[0], valid.period[1], "[)"),
        quantity=valid.quantity,
        serials=valid.serials,
        transaction_date=valid.transaction_date,
        beneficiary=valid.beneficiary,
        project_id=project_id,
        link_method=(
            ExternalRecord.LinkMethod.IDENTIFIER if project_id else ExternalRecord.LinkMethod.NONE
        ),
        linked_at=timezone.now() if project_id else None,
        raw={str(key): value for key, value in raw.items()},
        batch=batch,
    )
    outcome = ImportRow.Outcome.IMPORTED
    flags: list[dict[str, Any]] = []
    if record.project_id is None:
        MatchSuggestion.objects.bulk_create(
            MatchSuggestion(record=record, project=project, score=total, breakdown=breakdown)
            for project, total, breakdown in selectors.match_candidates(record)
        )
    else:
        flags = _flag_internal_overlap(record=record, actor=batch.created_by)
        if flags:
            outcome = ImportRow.Outcome.FLAGGED
    record_event(
        kind=LedgerEvent.Kind.EXTERNAL_IMPORTED,
        actor=batch.created_by,
        subjects=[f"import:{batch.pk}", f"external:{record.pk}"]
        + ([f"project:{record.project_id}"] if record.project_id else []),
        payload={
            "batch": batch.pk,
            "row": row_number,
            "record": record.pk,
            "source": record.source,
            "external_id": record.external_id,
            "kind": record.kind,
            "mechanism": record.mechanism_code,
            "unit_kind": record.unit_kind,
            "period": record.period_text(),
            "quantity": record.quantity,
            "project": record.project.code if record.project_id else None,
            "link_method": record.link_method,
        },
    )
    return ImportRow.objects.create(
        batch=batch,
        row_number=row_number,
        outcome=outcome,
        external_record=record,
        flags=flags,
    )


def _claim_fact(claim: UnitClaim) -> dict[str, Any]:
    project = claim.stream.project
    return {
        "claim": claim.pk,
        "mechanism": claim.mechanism.code,
        "role": claim.role,
        "serials": serial_numbers.SerialRange(claim.serials.lower, claim.serials.upper).format(
            project.country, project.code, claim.stream.unit_kind, claim.vintage
        ),
    }


def _flag_internal_overlap(*, record: ExternalRecord, actor: User) -> list[dict[str, Any]]:
    """Flag (rule R15, in the caller's transaction) a linked external issuance that covers
    output this registry has already issued; returns the internal claims it overlaps.

    Written as ``issuance.rules.flag`` writes it: interop sits below issuance and cannot call it.
    """
    if record.kind != ExternalRecord.Kind.ISSUANCE or record.project_id is None:
        return []
    claims = list(
        selectors.internal_claims_overlapping(
            project=record.project, unit_kind=record.unit_kind, days=record.period
        )[:20]
    )
    if not claims:
        return []
    facts = [_claim_fact(claim) for claim in claims]
    message = _(
        "%(source)s record %(external_id)s (%(mechanism)s, %(period)s) covers output of project "
        "%(project)s already issued here as %(claims)s (R15)."
    ) % {
        "source": record.source,
        "external_id": record.external_id,
        "mechanism": record.mechanism_code,
        "period": record.period_text(),
        "project": record.project.code,
        "claims": ", ".join(f"{fact['mechanism']} claim {fact['claim']}" for fact in facts),
    }
    record_event(
        kind=LedgerEvent.Kind.RULE_FLAGGED,
        actor=actor,
        subjects=[
            "rule:R15",
            f"external:{record.pk}",
            f"project:{record.project_id}",
            *(f"claim:{fact['claim']}" for fact in facts),
        ],
        payload={
            "rule": "R15",
            "message": str(message),
            "facts": {
                "external_record": record.pk,
                "source": record.source,
                "external_id": record.external_id,
                "period": record.period_text(),
                "internal_claims": facts,
            },
        },
    )
    return facts


# --- linking by an administrator --------------------------------------------------------------


def _locked_record(record: ExternalRecord) -> ExternalRecord:
    return (
        ExternalRecord.objects.select_for_update(of=("self",))
        .select_related("project")
        .get(pk=record.pk)
    )


def external_record_confirm_match(
    *, actor: User, record: ExternalRecord, project: Project
) -> ExternalRecord:
    """Link an unlinked external record to a project an administrator recognises as its own.

    The project's suggestion is confirmed (created with its score if the administrator picked a
    project outside the suggestions) and the record's other open suggestions are rejected; one
    ``external.matched`` ledger event. From then on the record takes part in rule R15; if it
    duplicates a live issuance here, that is flagged (rule.flagged) in the same transaction.
    """
    require_administrator(actor, _("link records of other registries to projects"))
    now = timezone.now()
    with transaction.atomic():
        record = _locked_record(record)
        if record.project_id is not None:
            raise Conflict(
                _("External record %(record)s is already linked to project %(project)s.")
                % {"record": record.pk, "project": record.project.code},
                code="already_linked",
                field="project",
            )
        suggestion = record.suggestions.filter(project=project).first()
        if suggestion is None:
            total, breakdown = selectors.score(record, project)
            suggestion = MatchSuggestion(
                record=record, project=project, score=total, breakdown=breakdown
            )
        elif suggestion.status == MatchSuggestion.Status.REJECTED:
            raise Conflict(
                _("The match of record %(record)s with project %(project)s was rejected.")
                % {"record": record.pk, "project": project.code},
                code="match_rejected",
                field="project",
            )
        suggestion.status = MatchSuggestion.Status.CONFIRMED
        suggestion.decided_by, suggestion.decided_at = actor, now
        suggestion.save()
        record.suggestions.filter(status=MatchSuggestion.Status.OPEN).exclude(
            pk=suggestion.pk
        ).update(status=MatchSuggestion.Status.REJECTED, decided_by=actor, decided_at=now)
        record.project = project
        record.link_method = ExternalRecord.LinkMethod.CONFIRMED_MATCH
        record.linked_by, record.linked_at = actor, now
        record.save(update_fields=["project", "link_method", "linked_by", "linked_at"])
        record_event(
            kind=LedgerEvent.Kind.EXTERNAL_MATCHED,
            actor=actor,
            subjects=[f"external:{record.pk}", f"project:{project.pk}"],
            payload={
                "record": record.pk,
                "source": record.source,
                "external_id": record.external_id,
                "project": project.code,
                "decision": "confirmed",
                "score": suggestion.score,
                "breakdown": suggestion.breakdown,
            },
        )
        _flag_internal_overlap(record=record, actor=actor)
    return record


def external_record_reject_match(
    *, actor: User, record: ExternalRecord, project: Project
) -> MatchSuggestion:
    """Reject one open suggestion of a record: that project is not the record's. One
    ``external.matched`` ledger event with decision "rejected" (no separate kind exists)."""
    require_administrator(actor, _("link records of other registries to projects"))
    with transaction.atomic():
        record = _locked_record(record)
        suggestion = (
            record.suggestions.select_for_update(of=("self",)).filter(project=project).first()
        )
        if suggestion is None:
            raise NotFound(
                _("Project %(project)s is not a suggested match of record %(record)s.")
                % {"project": project.code, "record": record.pk},
                code="no_such_suggestion",
                field="project",
            )
        if suggestion.status != MatchSuggestion.Status.OPEN:
            raise Conflict(
                _("This suggestion was already %(status)s.")
                % {"status": suggestion.get_status_display()},
                code="suggestion_decided",
                field="project",
            )
        suggestion.status = MatchSuggestion.Status.REJECTED
        suggestion.decided_by, suggestion.decided_at = actor, timezone.now()
        suggestion.save(update_fields=["status", "decided_by", "decided_at"])
        record_event(
            kind=LedgerEvent.Kind.EXTERNAL_MATCHED,
            actor=actor,
            subjects=[f"external:{record.pk}", f"project:{project.pk}"],
            payload={
                "record": record.pk,
                "source": record.source,
                "external_id": record.external_id,
                "project": project.code,
                "decision": "rejected",
                "score": suggestion.score,
            },
        )
    return suggestion
