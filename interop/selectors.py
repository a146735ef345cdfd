"""Reads of other registries' records: what overlaps what, scored project candidates and the
export of this registry's issuances in the interchange format.

Periods: external records carry whole days (``DateRange``); production records carry half-open
UTC instants. They are compared in the project's time zone, at day granularity: a production
period is widened to the whole local days it touches, so a shared day counts as an overlap (the
safe side for a double-issuance check).
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.backends.postgresql.psycopg_any import DateRange, DateTimeTZRange
from django.db.models import Q, QuerySet

from interop import formats
from interop.models import ExternalRecord
from registry.models import Project, ProjectIdentifier, UnitClaim

# The registry name of ProjectIdentifier that holds a project's id in each source registry.
EXTERNAL_ID_KEYS = {"IREC": "IREC", "VERRA": "VCS", "GS": "GS", "GEC": "GEC", "CCER": "CCER"}

# Scored matching: weights add up to 1; a candidate at or above the threshold is suggested.
MATCH_WEIGHTS = {"name": Decimal("0.50"), "province": Decimal("0.20"), "capacity": Decimal("0.15")}
MATCH_WEIGHTS["technology"] = Decimal("1") - sum(MATCH_WEIGHTS.values())
MATCH_THRESHOLD = Decimal("0.600")
MATCH_SUGGESTIONS = 3
CAPACITY_TOLERANCE = Decimal("0.10")
# Candidates scored per record at most (the province / technology pre-filter comes first).
MATCH_CANDIDATE_LIMIT = 2000


def identifier_key(source: str) -> str:
    return EXTERNAL_ID_KEYS.get(source.upper(), source.upper())


def live_projects_by_identifier(registry: str) -> dict[str, int]:
    """{identifier: project id} of the live projects' identifiers in ``registry``: the project
    that holds an identifier (unique among live projects in the database) is the one a record
    naming it belongs to."""
    return dict(
        ProjectIdentifier.objects.filter(
            registry=registry, project__status__in=sorted(Project.LIVE_STATUSES)
        ).values_list("identifier", "project_id")
    )


def local_days(project: Project, period: DateTimeTZRange) -> DateRange:
    """The whole local days (project time zone) a production period touches, half-open."""
    zone = ZoneInfo(project.time_zone)
    first = period.lower.astimezone(zone)
    last = period.upper.astimezone(zone)
    end_day = last.date()
    if last.timetz().replace(tzinfo=None) != dt.time(0):
        end_day += dt.timedelta(days=1)
    return DateRange(first.date(), max(end_day, first.date() + dt.timedelta(days=1)), "[)")


def instants_of(project: Project, days: DateRange) -> DateTimeTZRange:
    """Whole local days of the project as a half-open range of instants."""
    zone = ZoneInfo(project.time_zone)
    return DateTimeTZRange(
        dt.datetime.combine(days.lower, dt.time(0), tzinfo=zone),
        dt.datetime.combine(days.upper, dt.time(0), tzinfo=zone),
        "[)",
    )


def external_issuances_overlapping(
    *, project: Project, period: DateTimeTZRange, unit_kinds: Iterable[str]
) -> QuerySet[ExternalRecord]:
    """Linked external issuances of the project over any day of ``period`` in these unit kinds,
    oldest period first: what rule R15 refuses to issue again."""
    return ExternalRecord.objects.filter(
        project=project,
        kind=ExternalRecord.Kind.ISSUANCE,
        unit_kind__in=list(unit_kinds),
        period__overlap=local_days(project, period),
    ).order_by("period", "id")


def internal_claims_overlapping(
    *, project: Project, unit_kind: str, days: DateRange
) -> QuerySet[UnitClaim]:
    """Live claims of this registry on the project's output of ``unit_kind`` produced in
    ``days``: what an imported external issuance duplicates."""
    return (
        UnitClaim.objects.filter(
            stream__project=project,
            stream__unit_kind=unit_kind,
            status=UnitClaim.Status.LIVE,
            production_record__period__overlap=instants_of(project, days),
        )
        .select_related("mechanism", "stream__project")
        .order_by("id")
    )


def unlinked_records() -> QuerySet[ExternalRecord]:
    """External records no project is linked to yet: they block nothing until an administrator
    confirms a match."""
    return ExternalRecord.objects.filter(project__isnull=True).order_by("id")


# --- scored matching --------------------------------------------------------------------------


def _capacity_score(theirs: Decimal | None, ours: Decimal | None) -> Decimal:
    if theirs is None or ours is None or max(theirs, ours) == 0:
        return Decimal(0)
    difference = abs(theirs - ours) / max(theirs, ours)
    if difference <= CAPACITY_TOLERANCE:
        return Decimal(1)
    if difference <= 2 * CAPACITY_TOLERANCE:
        return Decimal("0.5")
    return Decimal(0)


def score(record: ExternalRecord, project: Project) -> tuple[Decimal, dict[str, Any]]:
    """How well a project fits a record: name similarity (difflib ratio of normalised names),
    same province, capacity within 10 % (half within 20 %), same technology."""
    name_ratio = difflib.SequenceMatcher(
        None, formats.normalised_name(record.project_name), formats.normalised_name(project.name)
    ).ratio()
    parts = {
        "name": Decimal(str(round(name_ratio, 3))),
        "province": Decimal(int(bool(record.province) and record.province == project.province)),
        "capacity": _capacity_score(record.capacity_mw, project.capacity_mw),
        "technology": Decimal(
            int(bool(record.technology) and record.technology == project.technology)
        ),
    }
    total = sum(MATCH_WEIGHTS[name] * value for name, value in parts.items())
    breakdown = {name: str(value) for name, value in parts.items()}
    return min(Decimal(1), total.quantize(Decimal("0.001"))), breakdown


def match_candidates(record: ExternalRecord) -> list[tuple[Project, Decimal, dict[str, Any]]]:
    """The best-scoring projects for an unlinked record, best first, at or above the threshold.

    Projects are pre-filtered on what the record states (country, then province or technology)
    and at most ``MATCH_CANDIDATE_LIMIT`` of them are scored.
    """
    projects = Project.objects.exclude(status=Project.Status.REJECTED)
    if record.country:
        projects = projects.filter(country=record.country)
    if record.province or record.technology:
        narrowing = Q()
        if record.province:
            narrowing |= Q(province=record.province)
        if record.technology:
            narrowing |= Q(technology=record.technology)
        projects = projects.filter(narrowing)
    scored = []
    for project in projects.order_by("id")[:MATCH_CANDIDATE_LIMIT]:
        total, breakdown = score(record, project)
        if total >= MATCH_THRESHOLD:
            scored.append((project, total, breakdown))
    scored.sort(key=lambda item: (-item[1], item[0].pk))
    return scored[:MATCH_SUGGESTIONS]


# --- export -----------------------------------------------------------------------------------


def issuances_for_export(
    *, mechanism: str | None = None, vintage: int | None = None, project: str | None = None
) -> QuerySet[UnitClaim]:
    """This registry's live claims, oldest first, as the export writes them."""
    claims = UnitClaim.objects.filter(status=UnitClaim.Status.LIVE).select_related(
        "mechanism", "stream__project", "production_record"
    )
    if mechanism:
        claims = claims.filter(mechanism__code=mechanism.upper())
    if vintage is not None:
        claims = claims.filter(vintage=vintage)
    if project:
        claims = claims.filter(stream__project__code=project)
    return claims.order_by("id")


def export_row(claim: UnitClaim, *, source: str) -> dict[str, Any]:
    """One claim as a canonical row: the production period as whole local days (last day
    inclusive), the serial range as text; no account or holder."""
    project = claim.stream.project
    days = local_days(project, claim.production_record.period)
    zone = ZoneInfo(project.time_zone)
    return {
        "source_registry": source,
        "external_id": str(claim.pk),
        "kind": "issuance",
        "external_project_id": project.code,
        "project_name": project.name,
        "country": project.country,
        "province": project.province,
        "technology": project.technology,
        "capacity_mw": str(project.capacity_mw) if project.capacity_mw is not None else "",
        "unit": formats.UNIT_NAMES[claim.stream.unit_kind],
        "mechanism": claim.mechanism.code,
        "period_start": days.lower.isoformat(),
        "period_end": (days.upper - dt.timedelta(days=1)).isoformat(),
        "quantity": str(claim.quantity),
        "serials": claim.serial_range().format(
            project.country, project.code, claim.stream.unit_kind, claim.vintage
        ),
        "transaction_date": claim.issued_at.astimezone(zone).date().isoformat(),
        "beneficiary": "",
    }


def export_rows(claims: QuerySet[UnitClaim], *, source: str) -> Iterator[dict[str, Any]]:
    for claim in claims.iterator(chunk_size=2000):
        yield export_row(claim, source=source)
