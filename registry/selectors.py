"""Reads on the core that more than one caller needs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.psycopg_any import NumericRange
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from registry.errors import DuplicateAsset, NotFound
from registry.models import (
    Mechanism,
    MechanismRegistration,
    Project,
    ProjectIdentifier,
    ProjectMeter,
    UnitClaim,
)


def mechanism_resolve(mechanism: Mechanism | str) -> Mechanism:
    """A Mechanism from an instance or a code; ``unknown_mechanism`` otherwise."""
    if isinstance(mechanism, Mechanism):
        return mechanism
    found = Mechanism.objects.filter(code=str(mechanism).strip().upper()).first()
    if found is None:
        raise NotFound(
            _("Unknown mechanism %(code)s.") % {"code": mechanism},
            code="unknown_mechanism",
            field="mechanism",
        )
    return found


def live_claim_overlapping(*, stream_id: int, lower: int, upper: int) -> UnitClaim | None:
    """The first live claim (by serial) holding any unit of [lower, upper) on the stream."""
    return (
        UnitClaim.objects.filter(
            stream_id=stream_id,
            status=UnitClaim.Status.LIVE,
            serials__overlap=NumericRange(lower, upper, "[)"),
        )
        .select_related("mechanism", "stream__project", "account__organisation")
        .order_by("serials")
        .first()
    )


def active_registration(
    *, project_id: int, mechanism_code: str, period
) -> MechanismRegistration | None:
    """The project's active registration under the mechanism whose crediting period overlaps
    ``period`` (at most one: exclusion constraint), e.g. a wind farm's CCER registration (R7)."""
    return (
        MechanismRegistration.objects.filter(
            project_id=project_id,
            mechanism__code=mechanism_code,
            status=MechanismRegistration.Status.ACTIVE,
            crediting_period__overlap=period,
        )
        .order_by("pk")
        .first()
    )


# --- physical identity ------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterSpan:
    """A revenue meter over whole days [valid_from, valid_to); ``valid_to`` None: still open."""

    meter_id: str
    valid_from: dt.date
    valid_to: dt.date | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "meter_id": self.meter_id,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
        }


def live_projects() -> Any:
    return Project.objects.filter(status__in=sorted(Project.LIVE_STATUSES)).select_related("owner")


def asset_identity_conflict(
    *,
    national_code: str,
    country: str,
    meters: Iterable[MeterSpan],
    identifiers: Mapping[str, str],
    exclude_project_id: int | None = None,
) -> DuplicateAsset | None:
    """The refusal naming the first live project that holds any of these identities (national
    code, then meters, then identifiers in other registries), or None when none is held.

    Reads the projects' own status, not the child rows' ``live`` flag, so it names a holder
    even while a concurrent status change is committing."""
    others = live_projects().exclude(pk=exclude_project_id)
    if national_code:
        holder = others.filter(national_code=national_code).order_by("pk").first()
        if holder is not None:
            return DuplicateAsset.naming(holder, field="national_code", value=national_code)
    for meter in meters:
        overlapping = ProjectMeter.objects.filter(
            country=country, meter_id=meter.meter_id, project__in=others
        ).filter(Q(valid_to__isnull=True) | Q(valid_to__gt=meter.valid_from))
        if meter.valid_to is not None:
            overlapping = overlapping.filter(valid_from__lt=meter.valid_to)
        held = overlapping.select_related("project__owner").order_by("pk").first()
        if held is not None:
            return DuplicateAsset.naming(
                held.project,
                field="meters",
                value=meter.meter_id,
                country=country,
                held_from=held.valid_from.isoformat(),
                held_to=held.valid_to.isoformat() if held.valid_to else None,
            )
    for registry, identifier in sorted(identifiers.items()):
        held = (
            ProjectIdentifier.objects.filter(
                registry=registry, identifier=identifier, project__in=others
            )
            .select_related("project__owner")
            .order_by("pk")
            .first()
        )
        if held is not None:
            return DuplicateAsset.naming(
                held.project,
                field="identifiers",
                value=f"{registry}:{identifier}",
                registry=registry,
            )
    return None


# Likely twins (no shared identifier), the measure of the registration check and of the report
# check ``assets_registered_once``: same technology, and either coordinates within
# REGISTRY_TWIN_DISTANCE_KM, or the same province with a name similarity (pg_trgm, on lower-case
# names) of at least REGISTRY_TWIN_NAME_SIMILARITY and capacities within
# REGISTRY_TWIN_CAPACITY_TOLERANCE of the larger one. ``a`` and ``b`` are two project rows.
TWIN_DISTANCE_SQL = """
    CASE WHEN a.latitude IS NOT NULL AND b.latitude IS NOT NULL THEN
        2 * 6371.0088 * asin(least(1, sqrt(
            power(sin(radians((b.latitude - a.latitude)::float8) / 2), 2)
            + cos(radians(a.latitude::float8)) * cos(radians(b.latitude::float8))
              * power(sin(radians((b.longitude - a.longitude)::float8) / 2), 2)
        )))
    END
"""


def twin_condition_sql(which: str = "any", *, trigram_operator: bool = True) -> str:
    """SQL condition on project rows ``a`` and ``b`` for a likely twin: ``near`` (same technology,
    within the distance), ``namesake`` (same technology and province, capacities within the
    tolerance of the larger one, similar names) or ``any``.

    The thresholds come from the settings as numbers written into the SQL, so that callers with
    positional or named parameters can both use it (they always pass parameters: ``%%`` is
    pg_trgm's similarity operator). The capacity condition is written as a window on
    ``b.capacity_mw`` (|a - b| <= t * max(a, b) is b in [(1 - t) a, a / (1 - t)]) so that the
    (technology, province, capacity) index bounds an all-pairs search; ``trigram_operator`` adds
    ``%%``, which lets the trigram index find the candidates of one project by name."""
    distance = Decimal(str(settings.REGISTRY_TWIN_DISTANCE_KM))
    similarity = Decimal(str(settings.REGISTRY_TWIN_NAME_SIMILARITY))
    keep = 1 - Decimal(str(settings.REGISTRY_TWIN_CAPACITY_TOLERANCE))
    near = f"""
        a.technology = b.technology
        AND a.latitude IS NOT NULL AND b.latitude IS NOT NULL
        -- A band of latitude first (a degree is about 111 km), so that the index on latitude
        -- finds the near rows and only they reach the trigonometry.
        AND b.latitude BETWEEN a.latitude - {distance / 100} AND a.latitude + {distance / 100}
        AND {TWIN_DISTANCE_SQL} <= {distance}
    """
    namesake = f"""
        a.technology = b.technology
        AND a.province = b.province
        AND b.capacity_mw BETWEEN a.capacity_mw * {keep} AND a.capacity_mw / {keep}
        {"AND lower(b.name) %% lower(a.name)" if trigram_operator else ""}
        AND similarity(lower(a.name), lower(b.name)) >= {similarity}
    """
    return {"near": near, "namesake": namesake}.get(which, f"(({near}) OR ({namesake}))")


def likely_twins(project: Project, *, limit: int = 10) -> list[dict[str, Any]]:
    """Live projects other than ``project`` that look like the same asset without sharing an
    identifier, nearest and most similar first: code, name, owner, status, distance in km,
    name similarity and capacities."""
    with connection.cursor() as cursor:
        # ``%`` on trigrams uses the GIN index with this threshold.
        cursor.execute(
            "SELECT set_config('pg_trgm.similarity_threshold', %s, true)",
            [str(settings.REGISTRY_TWIN_NAME_SIMILARITY)],
        )
        cursor.execute(
            f"""
            SELECT b.code, b.name, owner.code, owner.name, b.status,
                   round(({TWIN_DISTANCE_SQL})::numeric, 3),
                   round(similarity(lower(a.name), lower(b.name))::numeric, 3),
                   b.capacity_mw
            FROM registry_project AS a
            JOIN registry_project AS b
              ON b.id <> a.id AND b.status IN ('pending', 'approved')
            JOIN accounts_organisation AS owner ON owner.id = b.owner_id
            WHERE a.id = %(project)s AND {twin_condition_sql()}
            ORDER BY 6 NULLS LAST, 7 DESC, b.code
            LIMIT %(limit)s
            """,
            {"project": project.pk, "limit": limit},
        )
        rows = cursor.fetchall()
    return [
        {
            "project": code,
            "name": name,
            "owner": {"code": owner_code, "name": owner_name},
            "status": status,
            "distance_km": str(distance) if distance is not None else None,
            "name_similarity": str(similarity),
            "capacity_mw": str(capacity) if capacity is not None else None,
        }
        for (
            code,
            name,
            owner_code,
            owner_name,
            status,
            distance,
            similarity,
            capacity,
        ) in rows
    ]
