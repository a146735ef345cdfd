"""Writes on the core: projects, production records (serial allocation) and declarations.

Every service takes keyword arguments and an explicit actor, runs in one transaction and writes
one ledger event. Allocation of serials happens under a per-stream advisory lock; the exclusion
constraints on production records remain the guarantee.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pycountry
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange, NumericRange
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from registry.errors import Conflict, DomainError, Forbidden, NotFound
from registry.ledger import record_event, record_refusal, sha256_hex
from registry.models import (
    DERIVED_ONLY_TECHNOLOGIES,
    Declaration,
    GridRegion,
    GridRegionProvince,
    LedgerEvent,
    Mechanism,
    ProductionRecord,
    Project,
    Stream,
    UnitKind,
)
from registry.permissions import (
    is_administrator,
    require_administrator,
    require_production_verifier,
)
from registry.roles import Role
from registry.transactions import retry_transaction

if TYPE_CHECKING:  # accounts depends on the core, never the reverse
    from accounts.models import Organisation, User

# No I, O, 0, 1 (misread aloud), and no 2 or 3: MOD 97-10 turns "M2"/"2M" and "X3"/"3X" into the
# same digits, so a swap of such a pair in a project code would pass the check number.
PROJECT_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ456789"


def validate_subdivision(code: str, *, field: str) -> str:
    """An ISO 3166-2 subdivision code that exists (``CN-NM``, ``DE-BE``, ``FR-75C``), checked
    against the ISO 3166-2 data of ``pycountry``; returned trimmed and upper-case."""
    code = (code or "").strip().upper() if isinstance(code, str) else ""
    if not code or pycountry.subdivisions.get(code=code) is None:
        raise DomainError(
            _("%(code)s is not an ISO 3166-2 subdivision code.") % {"code": code}, field=field
        )
    return code


GRID_REGION_CODE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def grid_region_validate(
    *, name: str, provinces: Iterable[str], grid_region: GridRegion | None
) -> tuple[str, list[str]]:
    """The stripped name and the sorted, validated province codes of a grid region, written by
    nothing; refuses an empty name, no province, and a province that another grid region
    already contains (``grid_region`` is the one being changed, None for a new one)."""
    if not (name or "").strip():
        raise DomainError(_("A grid region needs a name."), field="name")
    codes = sorted({validate_subdivision(code, field="provinces") for code in provinces})
    if not codes:
        raise DomainError(_("A grid region contains at least one province."), field="provinces")
    taken = GridRegionProvince.objects.filter(province__in=codes).select_related("grid_region")
    if grid_region is not None:
        taken = taken.exclude(grid_region=grid_region)
    clash = taken.order_by("province").first()
    if clash is not None:
        raise Conflict(
            _("Province %(province)s already belongs to grid region %(region)s.")
            % {"province": clash.province, "region": clash.grid_region.code},
            code="province_in_other_region",
            field="provinces",
            details={"province": clash.province, "grid_region": clash.grid_region.code},
        )
    return name.strip(), codes


def _write_grid_region_provinces(grid_region: GridRegion, codes: list[str]) -> None:
    """Replace the region's provinces; the unique province still refuses a race with another
    region's write (turned into the same Conflict as the check above)."""
    try:
        with transaction.atomic():
            GridRegionProvince.objects.filter(grid_region=grid_region).exclude(
                province__in=codes
            ).delete()
            existing = set(grid_region.provinces.values_list("province", flat=True))
            GridRegionProvince.objects.bulk_create(
                GridRegionProvince(grid_region=grid_region, province=code)
                for code in codes
                if code not in existing
            )
    except IntegrityError as error:
        raise Conflict(
            _("A province of grid region %(region)s already belongs to another grid region.")
            % {"region": grid_region.code},
            code="province_in_other_region",
            field="provinces",
        ) from error


def grid_region_create(
    *, actor: User, code: str, name: str, name_zh: str = "", provinces: Iterable[str]
) -> GridRegion:
    """Create a grid region with its provinces (administrators only).

    The code is a unique lowercase slug; every province is a valid ISO 3166-2 code that no other
    grid region contains (the database refuses it too). One ledger event.
    """
    require_administrator(actor, _("create grid regions"))
    code = (code or "").strip()
    if not GRID_REGION_CODE.match(code):
        raise DomainError(
            _("%(code)s is not a grid region code (lowercase letters, digits and dashes).")
            % {"code": code},
            field="code",
        )
    if GridRegion.objects.filter(code=code).exists():
        raise Conflict(
            _("Grid region %(code)s already exists.") % {"code": code},
            code="duplicate_code",
            field="code",
        )
    name, codes = grid_region_validate(name=name, provinces=provinces, grid_region=None)
    with transaction.atomic():
        try:
            with transaction.atomic():
                grid_region = GridRegion.objects.create(
                    code=code, name=name, name_zh=(name_zh or "").strip()
                )
        except IntegrityError as error:
            raise Conflict(
                _("Grid region %(code)s already exists.") % {"code": code},
                code="duplicate_code",
                field="code",
            ) from error
        _write_grid_region_provinces(grid_region, codes)
        record_event(
            kind=LedgerEvent.Kind.GRID_REGION_CREATED,
            actor=actor,
            subjects=[f"grid_region:{grid_region.pk}"],
            payload={
                "grid_region": code,
                "name": grid_region.name,
                "name_zh": grid_region.name_zh,
                "provinces": codes,
            },
        )
    return grid_region


def grid_region_update(
    *,
    actor: User,
    grid_region: GridRegion,
    name: str,
    name_zh: str = "",
    provinces: Iterable[str],
) -> GridRegion:
    """Rename a grid region and set its provinces (administrators only); the code never changes.

    Same checks as creation. One ledger event with what changed, none when nothing did.
    """
    require_administrator(actor, _("change grid regions"))
    name, codes = grid_region_validate(name=name, provinces=provinces, grid_region=grid_region)
    name_zh = (name_zh or "").strip()
    with transaction.atomic():
        current = GridRegion.objects.select_for_update().get(pk=grid_region.pk)
        before = {
            "name": current.name,
            "name_zh": current.name_zh,
            "provinces": current.province_codes(),
        }
        after = {"name": name, "name_zh": name_zh, "provinces": codes}
        if before == after:
            return current
        GridRegion.objects.filter(pk=current.pk).update(name=name, name_zh=name_zh)
        _write_grid_region_provinces(current, codes)
        record_event(
            kind=LedgerEvent.Kind.GRID_REGION_UPDATED,
            actor=actor,
            subjects=[f"grid_region:{current.pk}"],
            payload={
                "grid_region": current.code,
                "from": {key: value for key, value in before.items() if after[key] != value},
                "to": {key: value for key, value in after.items() if before[key] != value},
            },
        )
    current.refresh_from_db()
    return current


def _optional_count(value: int | None, *, field: str, minimum: int) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DomainError(
            _("%(value)s is not a whole number of at least %(minimum)s.")
            % {"value": value, "minimum": minimum},
            field=field,
        )
    return value


def mechanism_create(
    *,
    actor: User,
    code: str,
    name: str,
    unit_kind: str,
    kind: str,
    name_zh: str = "",
    validity_months: int | None = None,
    max_transfers: int | None = None,
    requires_declaration: bool = False,
    accepts_derived_units: bool = False,
    issuing_body_name: str = "",
    issuing_body_codes: Iterable[str] = (),
    notes: str = "",
) -> Mechanism:
    """Add a mechanism (administrators only), with the organisations allowed to issue it named
    by their codes. Codes are unique; unknown organisation codes are refused. One ledger event.
    """
    require_administrator(actor, _("create mechanisms"))
    code = (code or "").strip()
    if not code or len(code) > Mechanism._meta.get_field("code").max_length:
        raise DomainError(_("A mechanism code has 1 to 16 characters."), field="code")
    if Mechanism.objects.filter(code=code).exists():
        raise Conflict(
            _("Mechanism %(code)s already exists.") % {"code": code},
            code="duplicate_code",
            field="code",
        )
    if not (name or "").strip():
        raise DomainError(_("A mechanism needs a name."), field="name")
    if unit_kind not in UnitKind.values:
        raise DomainError(_("Unknown unit kind %(kind)s.") % {"kind": unit_kind}, field="unit_kind")
    if kind not in Mechanism.Kind.values:
        raise DomainError(_("Unknown mechanism kind %(kind)s.") % {"kind": kind}, field="kind")
    validity_months = _optional_count(validity_months, field="validity_months", minimum=1)
    max_transfers = _optional_count(max_transfers, field="max_transfers", minimum=0)
    # The organisation model lives in accounts, above the core: reach it through the relation.
    organisation_model = Mechanism._meta.get_field("issuing_bodies").related_model
    wanted = sorted({body.strip() for body in issuing_body_codes if body.strip()})
    issuing_bodies = list(organisation_model.objects.filter(code__in=wanted))
    unknown = sorted(set(wanted) - {body.code for body in issuing_bodies})
    if unknown:
        raise DomainError(
            _("Unknown organisation %(codes)s.") % {"codes": ", ".join(unknown)},
            code="unknown_organisation",
            field="issuing_bodies",
        )
    with transaction.atomic():
        mechanism = Mechanism.objects.create(
            code=code,
            name=name.strip(),
            name_zh=(name_zh or "").strip(),
            unit_kind=unit_kind,
            kind=kind,
            validity_months=validity_months,
            max_transfers=max_transfers,
            requires_declaration=requires_declaration,
            accepts_derived_units=accepts_derived_units,
            issuing_body_name=issuing_body_name,
            notes=notes,
        )
        mechanism.issuing_bodies.set(issuing_bodies)
        record_event(
            kind=LedgerEvent.Kind.MECHANISM_CREATED,
            actor=actor,
            subjects=[f"mechanism:{mechanism.pk}"],
            payload={
                "mechanism": code,
                "name": mechanism.name,
                "unit_kind": unit_kind,
                "kind": kind,
                "validity_months": validity_months,
                "max_transfers": max_transfers,
                "requires_declaration": requires_declaration,
                "accepts_derived_units": accepts_derived_units,
                "issuing_bodies": wanted,
            },
        )
    return mechanism


def _new_project_code() -> str:
    while True:
        code = "P" + "".join(secrets.choice(PROJECT_CODE_ALPHABET) for _ in range(5))
        if not Project.objects.filter(code=code).exists():
            return code


def project_register(
    *,
    actor: User,
    owner: Organisation,
    name: str,
    province: str,
    technology: str,
    capacity_mw: Decimal | None = None,
    commissioning_date: dt.date | None = None,
    grid_region: str = "",
    subsidised: bool = False,
    inside_ets_boundary: bool = False,
    under_energy_use_rights: bool = False,
    external_ids: dict[str, str] | None = None,
    time_zone: str = "Asia/Shanghai",
) -> Project:
    """Register a project for its owner with a fresh project code.

    Registration by an administrator is approved at once; by a project owner it waits for an
    administrator's approval. Every unit kind gets its stream.
    """
    if not is_administrator(actor) and not (
        actor.role == Role.PROJECT_OWNER and actor.organisation_id == owner.pk
    ):
        raise Forbidden(
            _("You may register projects only for your own organisation."), field="owner"
        )
    if not name.strip():
        raise DomainError(_("A project needs a name."), field="name")
    province = validate_subdivision(province, field="province")
    if technology not in Project.Technology.values:
        raise DomainError(
            _("Unknown technology %(technology)s.") % {"technology": technology},
            field="technology",
        )
    if capacity_mw is not None and capacity_mw <= 0:
        raise DomainError(_("Capacity must be positive."), field="capacity_mw")
    try:
        ZoneInfo(time_zone)
    except (KeyError, ValueError):
        raise DomainError(
            _("Unknown time zone %(zone)s.") % {"zone": time_zone}, field="time_zone"
        ) from None
    with transaction.atomic():
        project = Project.objects.create(
            code=_new_project_code(),
            name=name.strip(),
            owner=owner,
            country=province[:2],
            province=province,
            grid_region=grid_region,
            technology=technology,
            capacity_mw=capacity_mw,
            commissioning_date=commissioning_date,
            subsidised=subsidised,
            inside_ets_boundary=inside_ets_boundary,
            under_energy_use_rights=under_energy_use_rights,
            external_ids=external_ids or {},
            time_zone=time_zone,
            status=Project.Status.APPROVED if is_administrator(actor) else Project.Status.PENDING,
        )
        Stream.objects.bulk_create(
            Stream(project=project, unit_kind=unit_kind) for unit_kind in UnitKind.values
        )
        record_event(
            kind=LedgerEvent.Kind.PROJECT_REGISTERED,
            actor=actor,
            subjects=[f"project:{project.pk}", f"organisation:{owner.pk}"],
            payload={
                "project": project.code,
                "name": project.name,
                "owner": owner.code,
                "province": province,
                "technology": technology,
                "capacity_mw": capacity_mw,
                "status": project.status,
                "external_ids": project.external_ids,
            },
        )
    return project


def project_set_status(*, actor: User, project: Project, status: str, reason: str = "") -> Project:
    """Approve or reject a pending project (administrators only), as a compare-and-set."""
    require_administrator(actor, _("approve or reject projects"))
    if status not in (Project.Status.APPROVED, Project.Status.REJECTED):
        raise DomainError(
            _("Unknown project status %(status)s.") % {"status": status}, field="status"
        )
    with transaction.atomic():
        changed = Project.objects.filter(pk=project.pk, status=Project.Status.PENDING).update(
            status=status
        )
        if not changed:
            raise Conflict(
                _("Project %(project)s is not pending.") % {"project": project.code},
                code="invalid_status_change",
                field="status",
            )
        record_event(
            kind=LedgerEvent.Kind.PROJECT_STATUS,
            actor=actor,
            subjects=[f"project:{project.pk}"],
            payload={"project": project.code, "to": status, "reason": reason},
        )
    project.status = status
    return project


def vintage_of(moment: dt.datetime, time_zone: str) -> int:
    """YYYYMM of a moment in the project's local time (midnight of the 1st belongs to the new
    month, whatever the UTC date)."""
    local = moment.astimezone(ZoneInfo(time_zone))
    return local.year * 100 + local.month


def parse_quantity(value: Any, *, field: str) -> Decimal:
    if isinstance(value, (bool, float)):
        # Floats cannot state metered quantities exactly; bools are not numbers here.
        raise DomainError(_("Give quantities as decimals or integers."), field=field)
    try:
        quantity = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DomainError(_("%(value)s is not a number.") % {"value": value}, field=field) from None
    if not quantity.is_finite() or quantity < 0:
        raise DomainError(_("Quantity must be zero or more."), field=field)
    if quantity > settings.REGISTRY_MAX_RECORD_QUANTITY:
        raise DomainError(
            _("Quantity %(value)s is absurdly large.") % {"value": value},
            code="implausible_quantity",
            field=field,
        )
    if quantity != quantity.quantize(Decimal("0.000001"), rounding=ROUND_DOWN):
        raise DomainError(_("Quantities have at most six decimals."), field=field)
    return quantity


def _aware_period(start: dt.datetime, end: dt.datetime) -> DateTimeTZRange:
    """A half-open period from two time-zone aware date-times, the end after the start."""
    for field, moment in (("period_start", start), ("period_end", end)):
        if not isinstance(moment, dt.datetime) or timezone.is_naive(moment):
            raise DomainError(_("Give the period as time-zone aware date-times."), field=field)
    if end <= start:
        raise DomainError(
            _("The period must end after it starts."), code="invalid_period", field="period_end"
        )
    return DateTimeTZRange(start, end, "[)")


def validated_period(start: dt.datetime, end: dt.datetime) -> DateTimeTZRange:
    """A production period: aware, ordered, and already over."""
    period = _aware_period(start, end)
    latest = timezone.now() + dt.timedelta(hours=settings.REGISTRY_FUTURE_TOLERANCE_HOURS)
    if end > latest:
        raise DomainError(
            _("Production cannot be recorded for a period that has not ended."),
            code="period_in_future",
            field="period_end",
        )
    return period


def allocate_production(
    *,
    actor: User,
    project: Project,
    unit_kind: str,
    period: DateTimeTZRange,
    quantity: Decimal,
    source: str,
    **correction: Any,
) -> ProductionRecord:
    """Allocate whole-unit serials for a period of a project's stream; caller holds the
    transaction. ``correction`` (corrects, reason, evidence) is stored on an upward correction,
    which shares the period of the record it corrects.

    Under the stream's row lock: refuse an overlapping period (naming the record that holds
    it), add the carried remainder, allocate the next contiguous serials and carry the new
    fraction. The exclusion constraints remain the guarantee if this code is ever bypassed.
    """
    # The stream's row lock serialises "next free serials -> create" for the stream; the row
    # has to be locked anyway to move its sequence and remainder on.
    try:
        stream = (
            Stream.objects.select_for_update(of=("self",))
            .select_related("project")
            .get(project=project, unit_kind=unit_kind)
        )
    except Stream.DoesNotExist:
        raise NotFound(_("The project has no such stream."), field="unit_kind") from None
    overlapping_records = ProductionRecord.objects.filter(stream=stream, period__overlap=period)
    if source != ProductionRecord.Source.METERED:
        # Several derivations (or allocations) may share a period; only records of another
        # source there would double count.
        overlapping_records = overlapping_records.exclude(source=source)
    if source == ProductionRecord.Source.CORRECTION:
        overlapping_records = overlapping_records.none()  # its own record's period, by design
    overlapping = overlapping_records.order_by("pk").first()
    if overlapping is not None:
        raise Conflict(
            _(
                "The period overlaps production record %(record)s (%(start)s to %(end)s) "
                "of the same stream."
            )
            % {
                "record": overlapping.pk,
                "start": overlapping.period.lower.isoformat(),
                "end": overlapping.period.upper.isoformat(),
            },
            code="period_overlap",
            field="period_start",
            details={"rule": "R2", "existing_record": overlapping.pk},
        )
    total = quantity + stream.carried_remainder
    units = int(total.to_integral_value(rounding=ROUND_DOWN))
    carried_out = total - units
    serials = None
    if units:
        serials = NumericRange(stream.next_sequence, stream.next_sequence + units, "[)")
    try:
        with transaction.atomic():
            record = ProductionRecord.objects.create(
                stream=stream,
                period=period,
                quantity=quantity,
                carried_in=stream.carried_remainder,
                carried_out=carried_out,
                units=units,
                serials=serials,
                vintage=vintage_of(period.lower, stream.project.time_zone),
                source=source,
                entered_by=actor,
                **correction,
            )
    except IntegrityError as error:
        if getattr(getattr(error.__cause__, "diag", None), "constraint_name", None) == (
            "tonnes_derived_only"
        ):
            raise Conflict(
                _("Project %(project)s does not record tonnes CO2e directly (database).")
                % {"project": stream.project.code},
                code="derived_only",
                field="unit_kind",
                details={"project": stream.project.code},
            ) from error
        raise Conflict(
            _("The database refused the production record: %(reason)s") % {"reason": error},
            code="period_overlap",
            field="period_start",
            details={"rule": "R2"},
        ) from error
    Stream.objects.filter(pk=stream.pk).update(
        next_sequence=stream.next_sequence + units, carried_remainder=carried_out
    )
    return record


def production_validate(
    *,
    project: Project,
    unit_kind: str,
    period_start: dt.datetime,
    period_end: dt.datetime,
    quantity: Decimal | int | str,
) -> tuple[Decimal, DateTimeTZRange]:
    """The checks production passes before it is submitted or recorded: a unit kind the project
    records directly (``derived_only`` for metered tonnes of a generating or energy-saving
    project), an approved project, a past, non-empty period from the commissioning date on, and
    a positive quantity the project can have produced (electricity at most capacity x hours x
    the configured margin). Returns the quantity and the period; writes nothing."""
    if unit_kind not in UnitKind.values:
        raise DomainError(_("Unknown unit kind %(kind)s.") % {"kind": unit_kind}, field="unit_kind")
    _require_directly_recorded(project, unit_kind)
    if project.status != Project.Status.APPROVED:
        raise Conflict(
            _("Project %(project)s is not approved.") % {"project": project.code},
            code="project_not_approved",
            field="project",
        )
    amount = parse_quantity(quantity, field="quantity")
    if amount == 0:
        raise DomainError(
            _("A production record needs a quantity above zero."),
            code="zero_quantity",
            field="quantity",
        )
    period = validated_period(period_start, period_end)
    _require_commissioned(project, period_start)
    if unit_kind == UnitKind.ELECTRICITY and project.capacity_mw is not None:
        _require_within_capacity(project, amount, period_start, period_end)
    return amount, period


def _require_directly_recorded(project: Project, unit_kind: str) -> None:
    """Refuse metered tonnes for a project whose tonnes are derived only (the database trigger
    ``tonnes_derived_only`` refuses them too)."""
    if unit_kind != UnitKind.CARBON or project.technology not in DERIVED_ONLY_TECHNOLOGIES:
        return
    origin = (
        UnitKind.ENERGY_SAVED if project.technology == "energy_saving" else UnitKind.ELECTRICITY
    )
    raise Conflict(
        _(
            "Project %(project)s (%(technology)s) does not record tonnes CO2e directly: they "
            "exist only as units derived from its %(origin)s stream."
        )
        % {
            "project": project.code,
            "technology": project.get_technology_display(),
            "origin": origin,
        },
        code="derived_only",
        field="unit_kind",
        details={"project": project.code, "technology": project.technology, "derive_from": origin},
    )


def _require_commissioned(project: Project, period_start: dt.datetime) -> None:
    """Refuse a period starting before the commissioning date (local midnight of that day)."""
    if project.commissioning_date is None:
        return
    commissioned = dt.datetime.combine(
        project.commissioning_date, dt.time(), tzinfo=ZoneInfo(project.time_zone)
    )
    if period_start < commissioned:
        raise DomainError(
            _("Project %(project)s was commissioned on %(date)s; production cannot start before.")
            % {"project": project.code, "date": project.commissioning_date.isoformat()},
            code="before_commissioning",
            field="period_start",
            details={"commissioning_date": project.commissioning_date.isoformat()},
        )


def _require_within_capacity(
    project: Project, amount: Decimal, period_start: dt.datetime, period_end: dt.datetime
) -> None:
    """Refuse more MWh than the capacity can give in the period, times the configured margin."""
    hours = Decimal((period_end - period_start).total_seconds()) / Decimal(3600)
    ceiling = project.capacity_mw * hours * Decimal(str(settings.REGISTRY_CAPACITY_MARGIN))
    if amount > ceiling:
        raise DomainError(
            _(
                "%(quantity)s MWh exceeds what %(capacity)s MW can produce in the period "
                "(at most %(ceiling)s MWh)."
            )
            % {
                "quantity": amount,
                "capacity": project.capacity_mw,
                "ceiling": ceiling.quantize(Decimal("0.001")),
            },
            code="implausible_quantity",
            field="quantity",
        )


@retry_transaction()
def production_record_create(
    *,
    actor: User,
    project: Project,
    unit_kind: str,
    period_start: dt.datetime,
    period_end: dt.datetime,
    quantity: Decimal | int | str,
    origin: dict[str, Any] | None = None,
) -> ProductionRecord:
    """Record verified output and allocate its serials.

    Only those who verify production (issuing bodies and administrators) record it; project
    owners submit theirs for verification (``issuance.services.production_submit``), whose
    verification calls this with ``origin`` naming the submission (kept in the ledger event).
    Refuses unknown unit kinds, metered tonnes of a project whose tonnes are derived only
    (``derived_only``, recorded in the ledger as a refused attempt), unapproved projects,
    periods that are empty, in the future, before commissioning or overlapping another of the
    stream, zero, negative or absurd quantities, and electricity above capacity x hours x the
    configured margin.
    """
    require_production_verifier(actor)
    try:
        amount, period = production_validate(
            project=project,
            unit_kind=unit_kind,
            period_start=period_start,
            period_end=period_end,
            quantity=quantity,
        )
    except Conflict as refusal:
        record_derived_only_refusal(
            refusal,
            actor=actor,
            operation="production_record_create",
            attempted={
                "project": project.code,
                "unit_kind": unit_kind,
                "period": [period_start, period_end],
                "quantity": str(quantity),
            },
        )
        raise
    with transaction.atomic():
        record = allocate_production(
            actor=actor,
            project=project,
            unit_kind=unit_kind,
            period=period,
            quantity=amount,
            source=ProductionRecord.Source.METERED,
        )
        record_event(
            kind=LedgerEvent.Kind.PRODUCTION_RECORDED,
            actor=actor,
            subjects=[f"project:{project.pk}", f"stream:{record.stream_id}", f"record:{record.pk}"],
            payload={
                **production_payload(record, project),
                **({"origin": origin} if origin else {}),
            },
        )
    return record


def record_derived_only_refusal(
    refusal: Conflict, *, actor: User, operation: str, attempted: dict[str, Any]
) -> None:
    """Write a ``derived_only`` refusal to the ledger as a refused attempt: metered tonnes
    beside a generating asset's MWh are the double count auditors look for (other refusals of
    production input are plain bad input, not recorded)."""
    if refusal.code == "derived_only":
        record_refusal(actor=actor, operation=operation, error=refusal, attempted=attempted)


def production_payload(record: ProductionRecord, project: Project) -> dict[str, Any]:
    return {
        "record": record.pk,
        "project": project.code,
        "stream": record.stream_id,
        "unit_kind": record.stream.unit_kind,
        "period": [record.period.lower, record.period.upper],
        "quantity": record.quantity,
        "carried_in": record.carried_in,
        "carried_out": record.carried_out,
        "units": record.units,
        "serials": [record.serials.lower, record.serials.upper] if record.serials else None,
        "vintage": record.vintage,
        "source": record.source,
        **(
            {
                "corrects": record.corrects_id,
                "withdrawn": [record.withdrawn.lower, record.withdrawn.upper]
                if record.withdrawn
                else None,
                "reason": record.reason,
                "evidence": record.evidence,
            }
            if record.corrects_id
            else {}
        ),
    }


DECLARATION_TEMPLATE_VERSION = "2026-1"
DECLARATION_TEMPLATES = {
    "en": (
        "Declaration of no double counting (template {version}).\n"
        "I, {signer}, acting for {organisation}, declare that the output of stream {stream} of "
        "project {project} ({project_name}) for the period {start} to {end} (UTC) is not and "
        "will not be registered, issued or claimed under any mechanism or registry other than "
        "as recorded in this registry.\n"
        "Registrations elsewhere that I know of: {others}."
    ),
    "zh-hans": (
        "不重复计算声明（模板 {version}）。\n"
        "本人 {signer} 代表 {organisation} 声明：项目 {project}（{project_name}）的 {stream} "
        "产出在 {start} 至 {end}（协调世界时）期间，"
        "除在本登记簿中记录的以外，未在且不会在任何其他机制或登记簿中登记、签发或主张。\n"
        "本人所知的其他登记：{others}。"
    ),
}


def declaration_sign(
    *,
    actor: User,
    project: Project,
    unit_kind: str,
    period_start: dt.datetime,
    period_end: dt.datetime,
    other_registrations: list[dict[str, str]] | None = None,
    language: str = "en",
) -> Declaration:
    """The project owner signs the generated text; the exact text and its SHA-256 are stored."""
    if not (actor.role == Role.PROJECT_OWNER and actor.organisation_id == project.owner_id):
        raise Forbidden(_("Only the project owner may sign its declarations."), field="project")
    if language not in DECLARATION_TEMPLATES:
        raise DomainError(
            _("Unknown language %(language)s.") % {"language": language}, field="language"
        )
    if unit_kind not in UnitKind.values:
        raise DomainError(_("Unknown unit kind %(kind)s.") % {"kind": unit_kind}, field="unit_kind")
    period = _aware_period(period_start, period_end)
    others = other_registrations or []
    stream = Stream.objects.get(project=project, unit_kind=unit_kind)
    text = DECLARATION_TEMPLATES[language].format(
        version=DECLARATION_TEMPLATE_VERSION,
        signer=actor.get_full_name() or actor.username,
        organisation=actor.organisation.name,
        stream=f"{project.code}-{unit_kind}",
        project=project.code,
        project_name=project.name,
        start=period_start.astimezone(dt.UTC).isoformat(),
        end=period_end.astimezone(dt.UTC).isoformat(),
        others="; ".join(f"{item.get('registry')} {item.get('identifier')}" for item in others)
        or "-",
    )
    with transaction.atomic():
        declaration = Declaration.objects.create(
            project=project,
            stream=stream,
            period=period,
            template_version=DECLARATION_TEMPLATE_VERSION,
            language=language,
            text=text,
            text_sha256=sha256_hex(text),
            other_registrations=others,
            signer=actor,
            signed_at=timezone.now(),
        )
        record_event(
            kind=LedgerEvent.Kind.DECLARATION_SIGNED,
            actor=actor,
            subjects=[f"project:{project.pk}", f"declaration:{declaration.pk}"],
            payload={
                "declaration": declaration.pk,
                "project": project.code,
                "stream": stream.pk,
                "period": [period_start, period_end],
                "text_sha256": declaration.text_sha256,
                "template_version": DECLARATION_TEMPLATE_VERSION,
            },
        )
    return declaration


def declaration_revoke(*, actor: User, declaration: Declaration, reason: str) -> Declaration:
    """Revoke a declaration: future issuance under it is refused; past issuance stands."""
    if not is_administrator(actor) and not (
        actor.role == Role.PROJECT_OWNER and actor.organisation_id == declaration.project.owner_id
    ):
        require_administrator(actor, _("revoke declarations of other organisations"))
    with transaction.atomic():
        changed = Declaration.objects.filter(pk=declaration.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if not changed:
            raise Conflict(
                _("The declaration is already revoked."),
                code="already_revoked",
                field="declaration",
            )
        record_event(
            kind=LedgerEvent.Kind.DECLARATION_REVOKED,
            actor=actor,
            subjects=[f"declaration:{declaration.pk}"],
            payload={"declaration": declaration.pk, "reason": reason},
        )
    declaration.refresh_from_db()
    return declaration
