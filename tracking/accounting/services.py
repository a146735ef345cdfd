"""Writes of emission accounting and green power settlement (issue 7).

Every service takes keyword arguments and an explicit actor, checks who may act, runs in one
transaction and writes one ledger event (the GEC transfer of a confirmed settlement writes its
own ``units.transferred`` event, inside the same transaction).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import HoldingAccount, Organisation, User
from accounts.selectors import account_resolve
from registry.errors import Conflict, DomainError, Forbidden, RuleViolation
from registry.ledger import record_event, record_refusal
from registry.models import LedgerEvent, Project
from registry.permissions import is_administrator, require_administrator
from registry.roles import Role
from registry.services import _as_quantity, _validate_period, validate_subdivision
from registry.transactions import retry_transaction
from tracking.accounting import selectors
from tracking.accounting.models import (
    ElectricityConsumption,
    GreenPowerContract,
    GreenPowerSettlement,
)
from tracking.accounting.settlement import Contract, SettlementInput, settle
from tracking.services import block_transfer

# =============================================================================================
# Green power settlement (DOMAIN.md section 4)
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


def _organisation_resolve(organisation: Organisation | str, *, field: str) -> Organisation:
    if isinstance(organisation, Organisation):
        return organisation
    found = Organisation.objects.filter(code=str(organisation or "").strip()).first()
    if found is None:
        raise DomainError(
            _("Unknown organisation %(organisation)s.") % {"organisation": organisation},
            code="unknown_organisation",
            field=field,
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
    buyer_organisation = _organisation_resolve(buyer, field="buyer")
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
    mwh = _as_quantity(monthly_mwh, field="monthly_mwh")
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
    consumer = _organisation_resolve(organisation, field="organisation")
    if not (is_administrator(actor) or _acts_for(actor, consumer.pk)):
        raise Forbidden(
            _("You may record consumption only for your own organisation."),
            field="organisation",
        )
    province = validate_subdivision(province, field="province")
    period = _validate_period(period_start, period_end)
    amount = _as_quantity(mwh, field="mwh")
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
    require_administrator(actor, "settle green power")
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
