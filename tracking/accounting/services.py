"""Writes of emission accounting.

Grid data comes in as CSV (admin upload or ``import_grid_data``), all or nothing, one ledger
event per file. Factors are computed from the grid data and the registry's own claims
(``grid_factors_compute``), in one repeatable-read snapshot whose last ledger event and latest
checkpoint are stored with them; a recomputation adds a new computation, the newest is published.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import HoldingAccount, Organisation, User
from accounts.selectors import account_resolve, organisation_resolve
from registry.errors import Conflict, DomainError, Forbidden, RuleViolation
from registry.ledger import record_event, record_refusal, sha256_hex
from registry.models import Checkpoint, GridRegion, LedgerEvent, Project
from registry.permissions import is_administrator, require_administrator
from registry.roles import Role
from registry.services import parse_quantity, validate_subdivision, validated_period
from registry.transactions import retry_transaction
from tracking.accounting import factors as factor_math
from tracking.accounting import selectors
from tracking.accounting.models import (
    ElectricityConsumption,
    FactorComputation,
    GreenPowerContract,
    GreenPowerSettlement,
    GridExchange,
    GridFactor,
    GridGeneration,
    period_label,
)
from tracking.accounting.selectors import claimed_mwh
from tracking.accounting.settlement import Contract, SettlementInput, settle
from tracking.services import block_transfer

GENERATION_COLUMNS = ("region", "period", "source", "generation_mwh", "emissions_t")
EXCHANGE_COLUMNS = ("period", "from_region", "to_region", "mwh")
PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?P<month>\d{2}))?$")
SOURCE = re.compile(r"^[a-z0-9_-]{1,32}$")
MAX_ROWS = 100_000


@dataclass(frozen=True)
class GridImport:
    """What one file changed: its kind, rows, the periods it replaced and its SHA-256."""

    kind: str
    rows: int
    periods: list[str]
    content_sha256: str


def parse_period(text: str, *, field: str = "period") -> tuple[int, int | None]:
    """``2025`` (a year) or ``2025-03`` (a month)."""
    match = PERIOD.match((text or "").strip())
    month = int(match["month"]) if match and match["month"] else None
    if (
        match is None
        or not (1990 <= int(match["year"]) <= 2200)
        or (month is not None and not 1 <= month <= 12)
    ):
        raise DomainError(
            _("%(value)s is not a period: give a year (2025) or a month (2025-03).")
            % {"value": text},
            code="invalid_period",
            field=field,
        )
    return int(match["year"]), month


def _row_error(number: int, column: str, message: Any) -> DomainError:
    return DomainError(
        _("Row %(row)s, %(column)s: %(message)s")
        % {"row": number, "column": column, "message": message},
        code="invalid_grid_data",
        field=column,
        details={"row": number},
    )


def _quantity(row: dict[str, str], column: str, number: int) -> Decimal:
    text = (row.get(column) or "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _row_error(number, column, _("not a number")) from None
    if not value.is_finite() or value < 0 or value >= Decimal("1e16"):
        raise _row_error(number, column, _("must be zero or more, below 10^16"))
    return value


def _rows(content: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [column for column in columns if column not in header]
    if missing:
        raise DomainError(
            _("The file needs the columns %(columns)s; missing: %(missing)s.")
            % {"columns": ", ".join(columns), "missing": ", ".join(missing)},
            code="invalid_grid_data",
            field="file",
        )
    reader.fieldnames = header
    rows = [(number, row) for number, row in enumerate(reader, start=2)]
    if not rows:
        raise DomainError(_("The file has no rows."), code="invalid_grid_data", field="file")
    if len(rows) > MAX_ROWS:
        raise DomainError(
            _("At most %(count)s rows per file.") % {"count": MAX_ROWS},
            code="invalid_grid_data",
            field="file",
        )
    return rows


def _regions() -> dict[str, GridRegion]:
    return {region.code: region for region in GridRegion.objects.all()}


def _region(regions: dict[str, GridRegion], row, column: str, number: int) -> GridRegion:
    code = (row.get(column) or "").strip().lower()
    if code not in regions:
        raise _row_error(number, column, _("unknown grid region %(code)s") % {"code": code})
    return regions[code]


def _period(row, number: int) -> tuple[int, int | None]:
    try:
        return parse_period(row.get("period") or "")
    except DomainError as error:
        raise _row_error(number, "period", error.message) from None


def grid_data_import(*, actor: User, kind: str, content: str) -> GridImport:
    """Import grid statistics from CSV, all or nothing (administrators).

    ``generation``: region, period, source, generation_mwh, emissions_t — one row per source;
    the file replaces every generation row of each (region, period) it names.
    ``exchanges``: period, from_region, to_region, mwh — the file replaces every exchange of each
    period it names. A refused row names its row number and column; nothing is written then.
    """
    require_administrator(actor, _("import grid data"))
    regions = _regions()
    if kind == "generation":
        parsed = _parse_generation(content, regions)
    elif kind == "exchanges":
        parsed = _parse_exchanges(content, regions)
    else:
        raise DomainError(
            _("Unknown kind of grid data %(kind)s: generation or exchanges.") % {"kind": kind},
            code="invalid_grid_data",
            field="kind",
        )
    with transaction.atomic():
        if kind == "generation":
            for region, year, month in {(r.region_id, r.year, r.month) for r in parsed}:
                GridGeneration.objects.filter(region_id=region, year=year, month=month).delete()
            for row in parsed:
                row.imported_by = actor
            GridGeneration.objects.bulk_create(parsed)
        else:
            for year, month in {(r.year, r.month) for r in parsed}:
                GridExchange.objects.filter(year=year, month=month).delete()
            for row in parsed:
                row.imported_by = actor
            GridExchange.objects.bulk_create(parsed)
        periods = sorted({period_label(row.year, row.month) for row in parsed})
        result = GridImport(
            kind=kind, rows=len(parsed), periods=periods, content_sha256=sha256_hex(content)
        )
        record_event(
            kind=LedgerEvent.Kind.GRID_DATA_IMPORTED,
            actor=actor,
            subjects=[f"grid_data:{kind}"],
            payload={
                "kind": kind,
                "rows": result.rows,
                "periods": periods,
                "content_sha256": result.content_sha256,
            },
        )
    return result


def _parse_generation(content: str, regions) -> list[GridGeneration]:
    seen: dict[tuple, int] = {}
    parsed = []
    for number, row in _rows(content, GENERATION_COLUMNS):
        region = _region(regions, row, "region", number)
        year, month = _period(row, number)
        source = (row.get("source") or "").strip().lower()
        if not SOURCE.match(source):
            raise _row_error(number, "source", _("a short name such as coal, gas, wind"))
        key = (region.pk, year, month, source)
        if key in seen:
            raise _row_error(number, "source", _("repeats row %(row)s") % {"row": seen[key]})
        seen[key] = number
        parsed.append(
            GridGeneration(
                region=region,
                year=year,
                month=month,
                source=source,
                generation_mwh=_quantity(row, "generation_mwh", number),
                emissions_t=_quantity(row, "emissions_t", number),
            )
        )
    return parsed


def _parse_exchanges(content: str, regions) -> list[GridExchange]:
    seen: dict[tuple, int] = {}
    parsed = []
    for number, row in _rows(content, EXCHANGE_COLUMNS):
        year, month = _period(row, number)
        exporter = _region(regions, row, "from_region", number)
        importer = _region(regions, row, "to_region", number)
        if exporter.pk == importer.pk:
            raise _row_error(number, "to_region", _("a region cannot exchange with itself"))
        key = (exporter.pk, importer.pk, year, month)
        if key in seen:
            raise _row_error(number, "to_region", _("repeats row %(row)s") % {"row": seen[key]})
        seen[key] = number
        parsed.append(
            GridExchange(
                year=year,
                month=month,
                exporter=exporter,
                importer=importer,
                mwh=_quantity(row, "mwh", number),
            )
        )
    return parsed


def grid_factors_compute(
    *,
    actor: User | None,
    year: int,
    month: int | None = None,
    policy: list[str] | None = None,
) -> FactorComputation:
    """Compute every region's average and residual factor for a period and store them as a new
    computation (administrators; ``actor`` None for the periodic task).

    Reads the grid data and the registry's claims in one repeatable-read snapshot and records
    the last ledger event and the latest checkpoint of that snapshot. Refuses a period without
    grid data, and grid data that gives no factor (naming the field).
    """
    if actor is not None:
        require_administrator(actor, _("compute grid factors"))
    policy = sorted(set(policy if policy is not None else settings.REGISTRY_RESIDUAL_POLICY))
    own_transaction = not connection.in_atomic_block
    with transaction.atomic():
        if own_transaction:
            # One snapshot for the grid data, the claims and the last event id. Inside a caller's
            # transaction its isolation level stands (it can only be set before any query).
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        supplies = (
            GridGeneration.objects.filter(year=year, month=month)
            .values("region_id", "region__code")
            .annotate(generation=Sum("generation_mwh"), emissions=Sum("emissions_t"))
            .order_by("region__code")
        )
        if not supplies:
            raise Conflict(
                _("There is no grid data for %(period)s.") % {"period": period_label(year, month)},
                code="no_grid_data",
                field="period",
            )
        exchanges = [
            factor_math.Exchange(exchange.exporter.code, exchange.importer.code, exchange.mwh)
            for exchange in GridExchange.objects.filter(year=year, month=month).select_related(
                "exporter", "importer"
            )
        ]
        try:
            averages = factor_math.average_factors(
                [
                    factor_math.RegionSupply(
                        row["region__code"], row["generation"], row["emissions"]
                    )
                    for row in supplies
                ],
                exchanges,
            )
        except factor_math.FactorError as error:
            raise DomainError(
                _("The grid data of %(period)s gives no factor: %(reason)s")
                % {"period": period_label(year, month), "reason": error.message},
                code="invalid_grid_data",
                field=error.field,
            ) from None
        claims = claimed_mwh(year=year, month=month)
        computation = FactorComputation.objects.create(
            year=year,
            month=month,
            policy=policy,
            checkpoint=Checkpoint.objects.order_by("-sequence").first(),
            last_event_id=LedgerEvent.objects.aggregate(last=Max("id"))["last"],
            requested_by=actor,
        )
        rows = []
        for row in supplies:
            average = averages[row["region__code"]]
            claimed = claims.get(row["region_id"], defaultdict(Decimal))
            counted = sum((claimed[kind] for kind in policy), Decimal(0))
            rows.append(
                GridFactor(
                    computation=computation,
                    region_id=row["region_id"],
                    generation_mwh=row["generation"],
                    generation_emissions_t=row["emissions"],
                    imports_mwh=average.imports_mwh,
                    supply_emissions_t=average.supply_emissions_t,
                    average_factor=average.factor,
                    retired_mwh=claimed["retired"],
                    exported_mwh=claimed["exported"],
                    valid_mwh=claimed["valid"],
                    claimed_mwh=counted,
                    residual_factor=factor_math.residual_factor(
                        average=average, claimed_mwh=counted
                    ),
                    double_counted_t=factor_math.double_counted_t(
                        average=average, claimed_mwh=counted
                    ),
                )
            )
        GridFactor.objects.bulk_create(rows)
    return computation


def grid_factors_recompute_all() -> list[FactorComputation]:
    """Recompute the factors of every period that has grid data (the periodic task)."""
    periods = (
        GridGeneration.objects.values_list("year", "month").distinct().order_by("year", "month")
    )
    return [grid_factors_compute(actor=None, year=year, month=month) for year, month in periods]


# =============================================================================================
# Green power settlement (docs/domain.md, green power settlement)
# =============================================================================================

#: Technologies whose electricity is green power (GECs are issued for them).
GREEN_TECHNOLOGIES = (
    Project.Technology.WIND,
    Project.Technology.SOLAR,
    Project.Technology.HYDRO,
    Project.Technology.BIOMASS,
)
#: Roles that act for their organisation's accounts (and so for its side of a contract).
OPERATOR_ROLES = (Role.HOLDER, Role.PROJECT_OWNER, Role.ISSUER)
CONTRACT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
MONTH_TEXT = re.compile(r"^(\d{4})-(\d{2})$")
GENERATOR, BUYER = "generator", "buyer"


def month_number(value: Any, *, field: str = "month") -> int:
    """A month as YYYYMM from "YYYY-MM" text or a YYYYMM integer; ``invalid_month`` otherwise."""
    number = None
    if isinstance(value, str):
        match = MONTH_TEXT.match(value.strip())
        if match:
            number = int(match.group(1)) * 100 + int(match.group(2))
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    if number is None or not (200001 <= number <= 210012 and 1 <= number % 100 <= 12):
        raise DomainError(_('Give the month as "YYYY-MM".'), code="invalid_month", field=field)
    return number


def _acts_for(actor: User, organisation_id: int) -> bool:
    return bool(
        actor.is_active
        and actor.organisation_id == organisation_id
        and actor.role in OPERATOR_ROLES
    )


def _project_resolve(project: Project | str) -> Project:
    if isinstance(project, Project):
        return project
    found = Project.objects.filter(code=str(project or "").strip().upper()).first()
    if found is None:
        # A name in the request body that names nothing is bad input (400), not a missing page.
        raise DomainError(
            _("Unknown project %(project)s.") % {"project": project},
            code="unknown_project",
            field="generator_project",
        )
    return found


def _require_active_account(account: HoldingAccount, *, field: str) -> None:
    if account.status != HoldingAccount.Status.ACTIVE:
        raise Conflict(
            _("Account %(account)s is %(status)s.")
            % {"account": account.number, "status": account.get_status_display()},
            code="account_not_active",
            field=field,
        )


def green_power_contract_create(
    *,
    actor: User,
    code: str,
    generator_project: Project | str,
    generator_account: HoldingAccount | str,
    buyer: Organisation | str,
    buyer_account: HoldingAccount | str,
    monthly_mwh: Decimal | int | str,
    valid_from: int | str,
    valid_to: int | str | None = None,
) -> GreenPowerContract:
    """Record a green power contract between a renewable generator and a buyer.

    Administrators, or the project owners of the generator's owning organisation, may. Refuses
    a malformed or taken code, a project that is not an approved wind, solar, hydro or biomass
    project, a generator account not of the project's owner, a buyer account not of the buyer,
    the project's owner as its own buyer, accounts that are not active, a non-positive or
    non-decimal monthly MWh, and a last month before the first. Writes one ledger event.
    """
    project = _project_resolve(generator_project)
    if not (
        is_administrator(actor)
        or (
            actor.is_active
            and actor.role == Role.PROJECT_OWNER
            and actor.organisation_id == project.owner_id
        )
    ):
        raise Forbidden(
            _("Only the generator's owner or an administrator may record its contracts."),
            field="generator_project",
        )
    code = str(code or "").strip()
    if not CONTRACT_CODE.match(code):
        raise DomainError(
            _("A contract code is 1 to 32 letters, digits, dots, dashes or underscores."),
            field="code",
        )
    if project.technology not in GREEN_TECHNOLOGIES:
        raise DomainError(
            _("Project %(project)s is not a renewable generator (wind, solar, hydro, biomass).")
            % {"project": project.code},
            code="not_a_generator",
            field="generator_project",
        )
    if project.status != Project.Status.APPROVED:
        raise Conflict(
            _("Project %(project)s is not approved.") % {"project": project.code},
            code="project_not_approved",
            field="generator_project",
        )
    source = account_resolve(generator_account, field="generator_account")
    target = account_resolve(buyer_account, field="buyer_account")
    buyer_organisation = organisation_resolve(buyer, field="buyer")
    if source.organisation_id != project.owner_id:
        raise DomainError(
            _("Account %(account)s is not an account of the project's owner.")
            % {"account": source.number},
            code="account_not_of_generator",
            field="generator_account",
        )
    if buyer_organisation.pk == project.owner_id:
        raise DomainError(
            _("A generator's owner cannot buy its own green power."),
            code="same_party",
            field="buyer",
        )
    if target.organisation_id != buyer_organisation.pk:
        raise DomainError(
            _("Account %(account)s is not an account of the buyer.") % {"account": target.number},
            code="account_not_of_buyer",
            field="buyer_account",
        )
    _require_active_account(source, field="generator_account")
    _require_active_account(target, field="buyer_account")
    mwh = parse_quantity(monthly_mwh, field="monthly_mwh")
    if mwh <= 0:
        raise DomainError(_("Contracted MWh must be more than zero."), field="monthly_mwh")
    first = month_number(valid_from, field="valid_from")
    last = None if valid_to in (None, "") else month_number(valid_to, field="valid_to")
    if last is not None and last < first:
        raise DomainError(
            _("The last month comes before the first."), code="invalid_period", field="valid_to"
        )
    try:
        with transaction.atomic():
            contract = GreenPowerContract.objects.create(
                code=code,
                generator_project=project,
                generator_account=source,
                buyer=buyer_organisation,
                buyer_account=target,
                monthly_mwh=mwh,
                valid_from=first,
                valid_to=last,
                created_by=actor,
            )
            record_event(
                kind=LedgerEvent.Kind.GREEN_POWER_CONTRACT_CREATED,
                actor=actor,
                subjects=[
                    f"green_power_contract:{contract.pk}",
                    f"project:{project.pk}",
                    f"account:{source.pk}",
                    f"account:{target.pk}",
                ],
                payload={
                    "contract": code,
                    "generator_project": project.code,
                    "generator_account": source.number,
                    "buyer": buyer_organisation.code,
                    "buyer_account": target.number,
                    "monthly_mwh": mwh,
                    "valid_from": first,
                    "valid_to": last,
                },
            )
    except IntegrityError as error:
        raise Conflict(
            _("Contract %(code)s already exists.") % {"code": code},
            code="duplicate_code",
            field="code",
        ) from error
    return contract


def electricity_consumption_record(
    *,
    actor: User,
    organisation: Organisation | str,
    province: str,
    period_start: dt.datetime,
    period_end: dt.datetime,
    mwh: Decimal | int | str,
    site: str = "",
) -> ElectricityConsumption:
    """Record metered electricity an organisation consumed in a province over a past, half-open
    period.

    Administrators, or the organisation's own account operators (holders, project owners,
    issuers), may. Refuses an unknown organisation, a province that is not an ISO 3166-2 code,
    a period that is empty, naive or not over, a negative or non-decimal quantity, and a period
    overlapping another of the same organisation, province and site. One ledger event.
    """
    consumer = organisation_resolve(organisation, field="organisation")
    if not (is_administrator(actor) or _acts_for(actor, consumer.pk)):
        raise Forbidden(
            _("You may record consumption only for your own organisation."),
            field="organisation",
        )
    province = validate_subdivision(province, field="province")
    period = validated_period(period_start, period_end)
    amount = parse_quantity(mwh, field="mwh")
    site = str(site or "").strip()[:100]
    try:
        with transaction.atomic():
            row = ElectricityConsumption.objects.create(
                organisation=consumer,
                province=province,
                site=site,
                period=period,
                mwh=amount,
                entered_by=actor,
            )
            record_event(
                kind=LedgerEvent.Kind.CONSUMPTION_RECORDED,
                actor=actor,
                subjects=[f"consumption:{row.pk}", f"organisation:{consumer.pk}"],
                payload={
                    "organisation": consumer.code,
                    "province": province,
                    "site": site,
                    "period_start": period.lower,
                    "period_end": period.upper,
                    "mwh": amount,
                },
            )
    except IntegrityError as error:
        raise Conflict(
            _(
                "Consumption of %(organisation)s in %(province)s is already recorded for part "
                "of this period."
            )
            % {"organisation": consumer.code, "province": province},
            code="overlapping_period",
            field="period_start",
        ) from error
    return row


def _settlement_payload(row: GreenPowerSettlement) -> dict[str, Any]:
    return {
        "contract": row.contract.code,
        "contracted_mwh": row.contracted_mwh,
        "buyer_scaled_mwh": row.buyer_scaled_mwh,
        "generator_scaled_mwh": row.generator_scaled_mwh,
        "carried_in_mwh": row.carried_in_mwh,
        "settled_mwh": row.settled_mwh,
        "carried_out_mwh": row.carried_out_mwh,
    }


@retry_transaction()
def green_power_settle_month(*, actor: User, month: int | str) -> list[GreenPowerSettlement]:
    """Compute the settlement of every contract active in ``month`` and store one row each.

    Administrators only. Generation is each generator project's metered electricity of that
    vintage, consumption each buyer organisation's consumption rows wholly inside the month
    (China Standard Time), the remainder carried in the previous month's settlement of the
    same contract (none: 0); the calculation is tracking.accounting.settlement's.

    A month may be computed again while none of its settlements has been confirmed by anyone
    and no later month has been computed for its contracts (the remainders chain forward);
    the rows are then replaced. Otherwise ``month_confirmed`` / ``later_month_settled``.
    One ledger event with every contract's figures.
    """
    require_administrator(actor, _("settle green power"))
    month = month_number(month)
    with transaction.atomic():
        contracts = list(selectors.contracts_active_in(month).select_for_update(of=("self",)))
        # Lock every row of the month before looking at it, so that a confirmation cannot slip
        # in between the check and the replacement.
        existing = list(GreenPowerSettlement.objects.select_for_update().filter(month=month))
        if any(
            row.status != GreenPowerSettlement.Status.COMPUTED
            or row.generator_confirmed_by_id
            or row.buyer_confirmed_by_id
            for row in existing
        ):
            raise Conflict(
                _("Settlements of %(month)s have been confirmed; they cannot be recomputed.")
                % {"month": month},
                code="month_confirmed",
                field="month",
            )
        if GreenPowerSettlement.objects.filter(contract__in=contracts, month__gt=month).exists():
            raise Conflict(
                _("A later month is already settled; %(month)s cannot be recomputed.")
                % {"month": month},
                code="later_month_settled",
                field="month",
            )
        generation = selectors.metered_generation_mwh(
            {contract.generator_project_id for contract in contracts}, month
        )
        consumption = selectors.consumption_mwh(
            {contract.buyer_id for contract in contracts}, selectors.month_period(month)
        )
        carried = dict(
            GreenPowerSettlement.objects.filter(
                contract__in=contracts, month=selectors.previous_month(month)
            ).values_list("contract__code", "carried_out_mwh")
        )
        results = settle(
            SettlementInput(
                month=f"{month // 100:04d}-{month % 100:02d}",
                contracts=tuple(
                    Contract(
                        id=contract.code,
                        generator=contract.generator_project.code,
                        buyer=contract.buyer.code,
                        mwh=contract.monthly_mwh,
                    )
                    for contract in contracts
                ),
                generation_mwh={
                    contract.generator_project.code: generation[contract.generator_project_id]
                    for contract in contracts
                },
                consumption_mwh={
                    contract.buyer.code: consumption[contract.buyer_id] for contract in contracts
                },
                carried_mwh=carried,
            )
        )
        GreenPowerSettlement.objects.filter(pk__in=[row.pk for row in existing]).delete()
        now = timezone.now()
        rows = []
        for contract in contracts:
            result = results[contract.code]
            rows.append(
                GreenPowerSettlement.objects.create(
                    contract=contract,
                    month=month,
                    contracted_mwh=result.contracted_mwh,
                    buyer_scaled_mwh=result.buyer_scaled_mwh,
                    generator_scaled_mwh=result.generator_scaled_mwh,
                    carried_in_mwh=result.carried_in_mwh,
                    settled_mwh=result.settled_mwh,
                    carried_out_mwh=result.carried_out_mwh,
                    computed_by=actor,
                    computed_at=now,
                )
            )
        record_event(
            kind=LedgerEvent.Kind.GREEN_POWER_SETTLED,
            actor=actor,
            subjects=[f"green_power_month:{month}"]
            + [f"green_power_contract:{contract.pk}" for contract in contracts],
            payload={
                "month": month,
                "generation_mwh": {
                    contract.generator_project.code: generation[contract.generator_project_id]
                    for contract in contracts
                },
                "consumption_mwh": {
                    contract.buyer.code: consumption[contract.buyer_id] for contract in contracts
                },
                "settlements": [_settlement_payload(row) for row in rows],
            },
        )
    return rows


def _side_of(actor: User, settlement: GreenPowerSettlement, side: str | None) -> str:
    """Which party ``actor`` confirms for: a member of the generator's owner or of the buyer
    confirms for that party; an administrator acts for either and must say which."""
    contract = settlement.contract
    if side not in (None, "", GENERATOR, BUYER):
        raise DomainError(_('Side is "generator" or "buyer".'), field="side")
    if is_administrator(actor):
        if side not in (GENERATOR, BUYER):
            raise DomainError(
                _('An administrator confirms for one party: give side "generator" or "buyer".'),
                code="side_required",
                field="side",
            )
        return side
    sides = []
    if _acts_for(actor, contract.generator_project.owner_id):
        sides.append(GENERATOR)
    if _acts_for(actor, contract.buyer_id):
        sides.append(BUYER)
    if side:
        sides = [candidate for candidate in sides if candidate == side]
    if not sides:
        raise Forbidden(
            _("Only the generator's owner or the buyer may confirm this settlement."),
            field="side",
        )
    return sides[0]


def _transfer_settled_gecs(settlement: GreenPowerSettlement) -> None:
    """Move the settled GECs of the contract's project and month, generator to buyer; on a
    refusal mark the settlement refused (nothing moved) and report it in the ledger."""
    contract = settlement.contract
    try:
        transfer = block_transfer(
            # The generator's confirmation is what authorises moving its units.
            actor=settlement.generator_confirmed_by,
            source_account=contract.generator_account,
            target_account=contract.buyer_account,
            mechanism="GEC",
            quantity=settlement.settled_mwh,
            project=contract.generator_project,
            vintage=settlement.month,
            idempotency_key=f"green-power-settlement:{settlement.pk}",
        )
    except DomainError as refusal:
        settlement.status = GreenPowerSettlement.Status.REFUSED
        settlement.refusal_code = refusal.code
        settlement.refusal_message = str(refusal.message)
        if not isinstance(refusal, RuleViolation):  # block_transfer records those itself
            record_refusal(
                actor=settlement.generator_confirmed_by,
                operation="green_power_settlement_transfer",
                error=refusal,
                attempted={
                    "settlement": settlement.pk,
                    "contract": contract.code,
                    "month": settlement.month,
                    "mechanism": "GEC",
                    "project": contract.generator_project.code,
                    "from": contract.generator_account.number,
                    "to": contract.buyer_account.number,
                    "quantity": settlement.settled_mwh,
                },
            )
        return
    settlement.status = GreenPowerSettlement.Status.TRANSFERRED
    settlement.transfer = transfer
    settlement.refusal_code = ""
    settlement.refusal_message = ""


@retry_transaction()
def green_power_settlement_confirm(
    *, actor: User, settlement: GreenPowerSettlement, side: str | None = None
) -> GreenPowerSettlement:
    """Confirm a computed settlement for one party; when both parties have confirmed, move the
    settled GECs in the same transaction.

    Who: a holder, project owner or issuer of the generator's owning organisation confirms for
    the generator, one of the buyer organisation for the buyer; an administrator may confirm
    for either party but must name it (``side``), so each confirmation says whom it binds.
    Auditors and anyone else are refused.

    Once both have confirmed: 0 MWh settled -> ``confirmed``, nothing to move; otherwise
    ``block_transfer`` of exactly ``settled_mwh`` GECs of the contract's project and month from
    the generator account to the buyer account, by the user who confirmed for the generator,
    -> ``transferred``. Where the generator lacks them (or the transfer is refused for any
    other reason) -> ``refused`` with the refusal's code and message, nothing moved, and an
    ``attempt.refused`` ledger event. A refused settlement may be confirmed again by either
    party (e.g. once the GECs are issued) to retry the transfer. Confirming a side twice, or a
    settlement already closed, is a ``Conflict``. One ``green_power.confirmed`` event.
    """
    with transaction.atomic():
        locked = (
            GreenPowerSettlement.objects.select_for_update(of=("self",))
            .select_related(
                "contract__generator_project",
                "contract__generator_account",
                "contract__buyer",
                "contract__buyer_account",
                "generator_confirmed_by",
            )
            .filter(pk=settlement.pk)
            .first()
        )
        if locked is None:  # the month was recomputed meanwhile: its rows were replaced
            raise Conflict(
                _("This settlement was recomputed; confirm the new one."),
                code="settlement_recomputed",
                field="settlement",
            )
        chosen = _side_of(actor, locked, side)
        retry = locked.status == GreenPowerSettlement.Status.REFUSED
        if locked.status not in (
            GreenPowerSettlement.Status.COMPUTED,
            GreenPowerSettlement.Status.REFUSED,
        ):
            raise Conflict(
                _("This settlement is %(status)s; there is nothing left to confirm.")
                % {"status": locked.get_status_display()},
                code="settlement_closed",
                field="status",
            )
        now = timezone.now()
        if not retry:
            if getattr(locked, f"{chosen}_confirmed_by_id") is not None:
                raise Conflict(
                    _("The %(side)s has already confirmed this settlement.") % {"side": chosen},
                    code="already_confirmed",
                    field="side",
                )
            setattr(locked, f"{chosen}_confirmed_by", actor)
            setattr(locked, f"{chosen}_confirmed_at", now)
        if locked.generator_confirmed_by_id and locked.buyer_confirmed_by_id:
            if locked.settled_mwh == 0:
                locked.status = GreenPowerSettlement.Status.CONFIRMED
            else:
                _transfer_settled_gecs(locked)
        locked.save()
        record_event(
            kind=LedgerEvent.Kind.GREEN_POWER_CONFIRMED,
            actor=actor,
            subjects=[
                f"green_power_settlement:{locked.pk}",
                f"green_power_contract:{locked.contract_id}",
                *([f"transfer:{locked.transfer_id}"] if locked.transfer_id else []),
            ],
            payload={
                "settlement": locked.pk,
                "contract": locked.contract.code,
                "month": locked.month,
                "side": chosen,
                "retry": retry,
                "settled_mwh": locked.settled_mwh,
                "status": locked.status,
                "transfer": str(locked.transfer.public_id) if locked.transfer_id else None,
                "refusal": (
                    {"code": locked.refusal_code, "message": locked.refusal_message}
                    if locked.status == GreenPowerSettlement.Status.REFUSED
                    else None
                ),
            },
        )
    return locked


# =============================================================================================
# End of green power settlement
# =============================================================================================
