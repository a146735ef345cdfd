"""Scope 2 of an organisation from the registry's own retirements (docs/domain.md, emission
accounting).

    location-based = Σ_r consumption_r × EF_r
    market-based   = Σ_r (consumption_r − certificates_r) × RF_r  +  certificates_r × 0

per grid region r where the organisation consumed, EF and RF from the newest factor computation
of the period (of the year when a month has none). A certificate counts only when its retirement
is the organisation's, for scope 2 electricity, of electricity units, with a claim period inside
the report's period and a location in a region where the organisation consumed; and no more
certificate MWh than consumption in a region. Each counted retirement is claimed for the report
through ``retirement_allocate`` (reference ``scope2:<organisation>:<period>``), so the database
refuses to count its units twice, in this report or any other.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, User
from registry.errors import Conflict, DomainError, Forbidden, NotFound
from registry.ledger import record_event
from registry.models import GridRegionProvince, LedgerEvent, UnitKind
from registry.permissions import is_administrator
from registry.roles import Role
from tracking.accounting.models import (
    ElectricityConsumption,
    FactorComputation,
    GridFactor,
    Scope2Certificate,
    Scope2Report,
    period_label,
)
from tracking.accounting.selectors import local_period, period_bounds
from tracking.models import Retirement
from tracking.selectors import retirement_serial_ranges
from tracking.services import retirement_allocate

TONNES = Decimal("0.000001")
OPERATOR_ROLES = (Role.HOLDER, Role.PROJECT_OWNER, Role.ISSUER)


def _computation(year: int, month: int | None) -> FactorComputation:
    for candidate_month in (month, None) if month is not None else (None,):
        computation = (
            FactorComputation.objects.filter(year=year, month=candidate_month)
            .order_by("-pk")
            .first()
        )
        if computation is not None:
            return computation
    raise Conflict(
        _("No grid factors have been computed for %(period)s.")
        % {"period": period_label(year, month)},
        code="no_grid_factors",
        field="period",
    )


def _retirement(value: Retirement | str, position: int) -> Retirement:
    field = f"retirements[{position}]"
    if isinstance(value, Retirement):
        return value
    try:
        found = (
            Retirement.objects.select_related("mechanism", "account")
            .filter(public_id=uuid.UUID(str(value)))
            .first()
        )
    except ValueError:  # not a UUID: no retirement has it
        found = None
    if found is None:
        raise NotFound(
            _("No retirement %(retirement)s.") % {"retirement": value},
            code="unknown_retirement",
            field=field,
        )
    return found


def scope2_report_create(
    *,
    actor: User,
    organisation: Organisation,
    year: int,
    month: int | None = None,
    retirements: Sequence[Retirement | str] = (),
) -> Scope2Report:
    """Compute and store an organisation's scope 2 report for a year or a month.

    Administrators, or the organisation's own account operators. Refuses a second report of the
    same organisation and period, consumption in a province outside every grid region, a
    region without a factor, and any retirement that is not the organisation's, not for scope 2
    electricity, not of electricity units, whose claim period or region does not match, or that
    is already counted elsewhere (naming it). All or nothing; one ``scope2.reported`` event, plus
    the allocation event of each counted retirement.
    """
    if not (
        is_administrator(actor)
        or (
            actor.is_active
            and actor.organisation_id == organisation.pk
            and actor.role in OPERATOR_ROLES
        )
    ):
        raise Forbidden(
            _("You may report scope 2 only for your own organisation."), field="organisation"
        )
    label = period_label(year, month)
    if Scope2Report.objects.filter(organisation=organisation, year=year, month=month).exists():
        raise Conflict(
            _("%(organisation)s already has a scope 2 report for %(period)s.")
            % {"organisation": organisation.code, "period": label},
            code="report_exists",
            field="period",
        )
    period = local_period(year, month)
    first_day, after_last_day = period_bounds(year, month)
    region_of = dict(GridRegionProvince.objects.values_list("province", "grid_region_id"))

    consumption: dict[int, Decimal] = defaultdict(Decimal)
    rows = (
        ElectricityConsumption.objects.filter(
            organisation=organisation, period__contained_by=period
        )
        .values("province")
        .annotate(mwh=Sum("mwh"))
    )
    for row in rows:
        if row["province"] not in region_of:
            raise Conflict(
                _("Consumption in %(province)s lies in no grid region.")
                % {"province": row["province"]},
                code="no_grid_region",
                field="consumption",
            )
        consumption[region_of[row["province"]]] += row["mwh"]
    if not consumption:
        raise Conflict(
            _("%(organisation)s has no electricity consumption recorded in %(period)s.")
            % {"organisation": organisation.code, "period": label},
            code="no_consumption",
            field="period",
        )

    computation = _computation(year, month)
    factors = {
        factor.region_id: factor
        for factor in GridFactor.objects.filter(computation=computation).select_related("region")
    }
    for region_id in consumption:
        if region_id not in factors:
            raise Conflict(
                _("No grid factor of %(period)s covers grid region %(region)s.")
                % {"period": computation.period_label, "region": region_id},
                code="no_grid_factors",
                field="consumption",
            )

    counted: list[tuple[Retirement, int]] = []
    certificates: dict[int, Decimal] = defaultdict(Decimal)
    seen: set[int] = set()
    for position, value in enumerate(retirements):
        retirement = _retirement(value, position)
        field = f"retirements[{position}]"
        if retirement.pk in seen:
            raise DomainError(
                _("Retirement %(retirement)s is listed twice.")
                % {"retirement": retirement.public_id},
                code="duplicate_retirement",
                field=field,
            )
        seen.add(retirement.pk)
        _check_retirement(
            retirement,
            organisation=organisation,
            first_day=first_day,
            after_last_day=after_last_day,
            field=field,
        )
        region_id = region_of.get(retirement.location)
        if region_id not in consumption:
            raise Conflict(
                _(
                    "Retirement %(retirement)s is for %(location)s, where %(organisation)s "
                    "consumed nothing in %(period)s."
                )
                % {
                    "retirement": retirement.public_id,
                    "location": retirement.location,
                    "organisation": organisation.code,
                    "period": label,
                },
                code="region_mismatch",
                field=field,
            )
        certificates[region_id] += retirement.quantity
        counted.append((retirement, region_id))
    for region_id, mwh in certificates.items():
        if mwh > consumption[region_id]:
            raise Conflict(
                _(
                    "%(certificates)s MWh of certificates exceed the %(consumption)s MWh "
                    "consumed in grid region %(region)s."
                )
                % {
                    "certificates": mwh,
                    "consumption": consumption[region_id],
                    "region": factors[region_id].region.code,
                },
                code="certificates_exceed_consumption",
                field="retirements",
            )

    by_region = {}
    for region_id, mwh in sorted(consumption.items()):
        factor = factors[region_id]
        certified = certificates.get(region_id, Decimal(0))
        residual = factor.residual_factor
        by_region[factor.region.code] = {
            "consumption_mwh": mwh,
            "certificate_mwh": certified,
            "average_factor": factor.average_factor,
            "residual_factor": residual,
            # Every MWh of the region's supply claimed: no residual mix is left, and the
            # average is the only factor there is for what the certificates do not cover.
            "factor_for_uncovered": residual if residual is not None else factor.average_factor,
            "location_based_t": (mwh * factor.average_factor).quantize(TONNES),
            "market_based_t": (
                (mwh - certified) * (residual if residual is not None else factor.average_factor)
            ).quantize(TONNES),
        }
    try:
        with transaction.atomic():
            report = Scope2Report.objects.create(
                organisation=organisation,
                year=year,
                month=month,
                computation=computation,
                consumption_mwh=sum(consumption.values(), Decimal(0)),
                certificate_mwh=sum(certificates.values(), Decimal(0)),
                location_based_t=sum(
                    (region["location_based_t"] for region in by_region.values()), Decimal(0)
                ),
                market_based_t=sum(
                    (region["market_based_t"] for region in by_region.values()), Decimal(0)
                ),
                regions={
                    code: {key: None if value is None else str(value) for key, value in row.items()}
                    for code, row in by_region.items()
                },
                created_by=actor,
            )
            for retirement, region_id in counted:
                allocation = retirement_allocate(
                    actor=actor,
                    retirement=retirement,
                    quantity=retirement.quantity,
                    claimant=organisation.name,
                    reference=f"scope2:{organisation.code}:{label}",
                )
                Scope2Certificate.objects.create(
                    report=report,
                    retirement=retirement,
                    allocation=allocation,
                    region_id=region_id,
                    mwh=retirement.quantity,
                    serial_ranges=retirement_serial_ranges(retirement),
                )
            record_event(
                kind=LedgerEvent.Kind.SCOPE2_REPORTED,
                actor=actor,
                subjects=[
                    f"scope2_report:{report.pk}",
                    f"organisation:{organisation.pk}",
                    *(f"retirement:{retirement.pk}" for retirement, _region in counted),
                ],
                payload={
                    "report": report.pk,
                    "organisation": organisation.code,
                    "period": label,
                    "computation": computation.pk,
                    "location_based_t": str(report.location_based_t),
                    "market_based_t": str(report.market_based_t),
                    "retirements": [str(retirement.public_id) for retirement, _r in counted],
                },
            )
    except IntegrityError as error:
        # Two reports of the same organisation and period at once: the unique constraint lets
        # one through.
        raise Conflict(
            _("%(organisation)s already has a scope 2 report for %(period)s.")
            % {"organisation": organisation.code, "period": label},
            code="report_exists",
            field="period",
        ) from error
    return report


def _check_retirement(
    retirement: Retirement,
    *,
    organisation: Organisation,
    first_day: dt.date,
    after_last_day: dt.date,
    field: str,
) -> None:
    if retirement.account.organisation_id != organisation.pk:
        raise Forbidden(
            _("Retirement %(retirement)s was not made from %(organisation)s's accounts.")
            % {"retirement": retirement.public_id, "organisation": organisation.code},
            field=field,
        )
    if retirement.purpose != Retirement.Purpose.SCOPE2:
        raise Conflict(
            _("Retirement %(retirement)s is for %(purpose)s, not scope 2 electricity.")
            % {"retirement": retirement.public_id, "purpose": retirement.get_purpose_display()},
            code="purpose_mismatch",
            field=field,
        )
    if retirement.mechanism.unit_kind != UnitKind.ELECTRICITY:
        raise Conflict(
            _("Retirement %(retirement)s retired %(mechanism)s, not electricity certificates.")
            % {"retirement": retirement.public_id, "mechanism": retirement.mechanism.code},
            code="unit_kind_mismatch",
            field=field,
        )
    if not (
        first_day <= retirement.claim_period_start and retirement.claim_period_end < after_last_day
    ):
        raise Conflict(
            _("Retirement %(retirement)s claims %(start)s to %(end)s, outside the report's period.")
            % {
                "retirement": retirement.public_id,
                "start": retirement.claim_period_start,
                "end": retirement.claim_period_end,
            },
            code="claim_period_mismatch",
            field=field,
        )
