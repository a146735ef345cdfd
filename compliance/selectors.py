"""Reads of ETS compliance: the current verified figure, what was surrendered, and an entity's
position for a compliance year."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import Sum
from django.db.models.functions import Coalesce

from compliance.models import (
    Allocation,
    ComplianceScheme,
    CoveredEntity,
    Surrender,
    VerifiedEmission,
)
from compliance.rules import ccer_allowed
from registry.models import Stream, UnitKind
from tracking.models import Block

BUDGET_TIME_ZONE = "Asia/Shanghai"


def compliance_year_period(year: int) -> DateTimeTZRange:
    """The compliance year as a half-open period in Chinese local time; allowance records of the
    year carry it, so their vintage is January of the year (YYYY01)."""
    zone = ZoneInfo(BUDGET_TIME_ZONE)
    return DateTimeTZRange(
        dt.datetime(year, 1, 1, tzinfo=zone), dt.datetime(year + 1, 1, 1, tzinfo=zone), "[)"
    )


def allowance_vintage(year: int) -> int:
    """Allowances of compliance year YYYY are vintage YYYY01: distinct products by year."""
    return year * 100 + 1


def budget_stream(scheme: ComplianceScheme) -> Stream:
    """The carbon stream of the scheme's budget project, which carries its allowances' serials."""
    return Stream.objects.get(project_id=scheme.budget_project_id, unit_kind=UnitKind.CARBON)


def current_verified_emission(
    *, entity: CoveredEntity, compliance_year: int
) -> VerifiedEmission | None:
    return VerifiedEmission.objects.filter(
        entity=entity, compliance_year=compliance_year, superseded_at__isnull=True
    ).first()


@dataclass(frozen=True)
class Surrendered:
    allowances: int
    ccer: int

    @property
    def total(self) -> int:
        return self.allowances + self.ccer


def surrendered_for(*, entity: CoveredEntity, compliance_year: int) -> Surrendered:
    totals = Surrender.objects.filter(entity=entity, compliance_year=compliance_year).aggregate(
        allowances=Coalesce(Sum("allowance_quantity"), 0), ccer=Coalesce(Sum("ccer_quantity"), 0)
    )
    return Surrendered(allowances=totals["allowances"], ccer=totals["ccer"])


@dataclass(frozen=True)
class CompliancePosition:
    """An entity's standing for one compliance year. Figures that need the verified emissions
    are None until they are recorded."""

    entity: int
    scheme: str
    compliance_year: int
    obligation: int | None
    allocated: int
    held_allowances: int
    surrendered_allowances: int
    surrendered_ccer: int
    surrendered: int
    remaining: int | None
    ccer_limit_percent: Decimal
    ccer_allowed: int | None
    ccer_headroom: int | None


def compliance_position(*, entity: CoveredEntity, compliance_year: int) -> CompliancePosition:
    """Obligation, allowances allocated and still held, surrendered allowances and CCER, what
    remains to surrender, and how many more CCER the scheme's limit admits."""
    scheme = entity.scheme
    figure = current_verified_emission(entity=entity, compliance_year=compliance_year)
    allocated = Allocation.objects.filter(entity=entity, compliance_year=compliance_year).aggregate(
        total=Coalesce(Sum("quantity"), 0)
    )["total"]
    held = Block.objects.filter(
        account_id=entity.account_id,
        mechanism__code="CEA",
        status=Block.Status.ACTIVE,
        stream=budget_stream(scheme),
        vintage=allowance_vintage(compliance_year),
    ).aggregate(total=Coalesce(Sum("quantity"), 0))["total"]
    surrendered = surrendered_for(entity=entity, compliance_year=compliance_year)
    obligation = figure.quantity if figure is not None else None
    remaining = allowed = headroom = None
    if obligation is not None:
        remaining = obligation - surrendered.total
        allowed = ccer_allowed(obligation=obligation, limit_percent=scheme.ccer_limit_percent)
        headroom = max(0, min(allowed - surrendered.ccer, remaining))
    return CompliancePosition(
        entity=entity.pk,
        scheme=scheme.code,
        compliance_year=compliance_year,
        obligation=obligation,
        allocated=allocated,
        held_allowances=held,
        surrendered_allowances=surrendered.allowances,
        surrendered_ccer=surrendered.ccer,
        surrendered=surrendered.total,
        remaining=remaining,
        ccer_limit_percent=scheme.ccer_limit_percent,
        ccer_allowed=allowed,
        ccer_headroom=headroom,
    )
