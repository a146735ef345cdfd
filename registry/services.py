"""Writes on the core: projects, production records (serial allocation) and declarations.

Every service takes keyword arguments and an explicit actor, runs in one transaction and writes
one ledger event. Allocation of serials happens under a per-stream advisory lock; the exclusion
constraints on production records remain the guarantee.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pycountry
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange, NumericRange
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from registry.errors import Conflict, DomainError, DuplicateAsset, Forbidden, NotFound
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
    ProjectIdentifier,
    ProjectMeter,
    Stream,
    UnitKind,
)
from registry.permissions import (
    is_administrator,
    require_administrator,
    require_production_verifier,
)
from registry.roles import Role
from registry.selectors import MeterSpan, asset_identity_conflict, likely_twins
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


NATIONAL_CODE_MAX = 32
METER_ID_MAX = 64
REGISTRY_NAME_MAX = 32
IDENTIFIER_MAX = 100


def normalised_national_code(value: Any) -> str:
    """The national filing code trimmed and upper-cased ('' for none); refuses anything that is
    not printable text of at most 32 characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DomainError(_("The national filing code is text."), field="national_code")
    code = value.strip().upper()
    if len(code) > NATIONAL_CODE_MAX or not code.isprintable():
        raise DomainError(
            _("A national filing code has at most 32 printable characters."),
            field="national_code",
        )
    return code


def _coordinate(value: Any, *, field: str, limit: int) -> Decimal:
    try:
        number = None if isinstance(value, bool) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite() or abs(number) > limit:
        raise DomainError(
            _("%(field)s must be a number of degrees between -%(limit)s and %(limit)s (WGS 84).")
            % {"field": field, "limit": limit},
            field=field,
        )
    return number.quantize(Decimal("0.000001"), rounding=ROUND_DOWN)


def validated_coordinates(latitude: Any, longitude: Any) -> tuple[Decimal | None, Decimal | None]:
    """WGS 84 degrees, both or neither, six decimals (about 0.1 m)."""
    if latitude in (None, "") and longitude in (None, ""):
        return None, None
    if latitude in (None, "") or longitude in (None, ""):
        missing = "latitude" if latitude in (None, "") else "longitude"
        raise DomainError(_("Give both latitude and longitude, or neither."), field=missing)
    return (
        _coordinate(latitude, field="latitude", limit=90),
        _coordinate(longitude, field="longitude", limit=180),
    )


def _date(value: Any, *, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise DomainError(_("Give a date, not a date-time."), field=field)
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise DomainError(
            _("%(value)s is not a date (YYYY-MM-DD).") % {"value": value}, field=field
        ) from None


def validated_meters(
    meters: Iterable[Any] | None, *, default_from: dt.date | None
) -> list[MeterSpan]:
    """Revenue meters as MeterSpans: the id trimmed and upper-cased, validity from (default: the
    commissioning date) to an optional exclusive end; spans of one meter never overlap."""
    spans: list[MeterSpan] = []
    for item in meters or ():
        entry = {"meter_id": item} if isinstance(item, str) else item
        if not isinstance(entry, dict):
            raise DomainError(_("A meter is an id with its validity."), field="meters")
        meter_id = str(entry.get("meter_id") or "").strip().upper()
        if not meter_id or len(meter_id) > METER_ID_MAX or not meter_id.isprintable():
            raise DomainError(_("A meter id has 1 to 64 printable characters."), field="meters")
        start = entry.get("valid_from") or default_from
        if start is None:
            raise DomainError(
                _("Meter %(meter)s needs the date it starts measuring the asset.")
                % {"meter": meter_id},
                field="meters",
            )
        start = _date(start, field="meters")
        end = entry.get("valid_to")
        end = _date(end, field="meters") if end not in (None, "") else None
        if end is not None and end <= start:
            raise DomainError(
                _("Meter %(meter)s: the validity must end after it starts.") % {"meter": meter_id},
                field="meters",
            )
        spans.append(MeterSpan(meter_id, start, end))
    for index, span in enumerate(spans):
        for other in spans[index + 1 :]:
            if span.meter_id == other.meter_id and _spans_overlap(span, other):
                raise DomainError(
                    _("Meter %(meter)s is given twice for overlapping dates.")
                    % {"meter": span.meter_id},
                    field="meters",
                )
    return spans


def _spans_overlap(first: MeterSpan, second: MeterSpan) -> bool:
    return (second.valid_to is None or first.valid_from < second.valid_to) and (
        first.valid_to is None or second.valid_from < first.valid_to
    )


def validated_identifiers(identifiers: Any) -> dict[str, str]:
    """Identifiers in other registries as {REGISTRY: identifier}: the registry's name trimmed and
    upper-cased, the identifier trimmed. Accepts the mapping (the former ``external_ids``) or a
    list of {"registry", "identifier"} pairs; one identifier per registry."""
    if not identifiers:
        return {}
    pairs = (
        list(identifiers.items())
        if isinstance(identifiers, Mapping)
        else [
            (item.get("registry"), item.get("identifier"))
            if isinstance(item, dict)
            else (None, None)
            for item in identifiers
        ]
    )
    result: dict[str, str] = {}
    for registry, identifier in pairs:
        registry = str(registry or "").strip().upper()
        identifier = str(identifier or "").strip()
        if not registry or len(registry) > REGISTRY_NAME_MAX or not registry.isprintable():
            raise DomainError(
                _("A registry's name has 1 to 32 printable characters."), field="identifiers"
            )
        if not identifier or len(identifier) > IDENTIFIER_MAX or not identifier.isprintable():
            raise DomainError(
                _("An identifier has 1 to 100 printable characters."), field="identifiers"
            )
        if registry in result:
            raise DomainError(
                _("Registry %(registry)s is given twice.") % {"registry": registry},
                field="identifiers",
            )
        result[registry] = identifier
    return result


def _validated_plant(
    *, technology: str, capacity_mw: Any, commissioning_date: Any
) -> tuple[Decimal | None, dt.date | None]:
    """Capacity (positive MW) and commissioning date, both required for generating assets."""
    if technology not in Project.Technology.values:
        raise DomainError(
            _("Unknown technology %(technology)s.") % {"technology": technology},
            field="technology",
        )
    if capacity_mw not in (None, ""):
        capacity_mw = parse_quantity(capacity_mw, field="capacity_mw")
        if capacity_mw <= 0 or capacity_mw != capacity_mw.quantize(Decimal("0.001")):
            raise DomainError(
                _("Capacity must be positive, with at most three decimals."), field="capacity_mw"
            )
    else:
        capacity_mw = None
    if commissioning_date not in (None, ""):
        commissioning_date = _date(commissioning_date, field="commissioning_date")
    else:
        commissioning_date = None
    if technology in Project.GENERATING_TECHNOLOGIES:
        for field, value in (
            ("capacity_mw", capacity_mw),
            ("commissioning_date", commissioning_date),
        ):
            if value is None:
                raise DomainError(
                    _("A generating asset states its capacity and commissioning date."),
                    code="required",
                    field=field,
                )
    return capacity_mw, commissioning_date


@dataclass(frozen=True)
class AssetIdentity:
    """What makes a registration one physical asset, validated and normalised."""

    national_code: str
    latitude: Decimal | None
    longitude: Decimal | None
    meters: list[MeterSpan]
    identifiers: dict[str, str]

    @classmethod
    def validated(
        cls,
        *,
        national_code: Any,
        latitude: Any,
        longitude: Any,
        meters: Iterable[Any] | None,
        identifiers: Any,
        commissioning_date: dt.date | None,
    ) -> AssetIdentity:
        """Each part validated (DomainError naming its field) and normalised; meters start at
        the commissioning date unless they say otherwise."""
        latitude, longitude = validated_coordinates(latitude, longitude)
        return cls(
            national_code=normalised_national_code(national_code),
            latitude=latitude,
            longitude=longitude,
            meters=validated_meters(meters, default_from=commissioning_date),
            identifiers=validated_identifiers(identifiers),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "national_code": self.national_code,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "meters": [meter.as_dict() for meter in self.meters],
            "identifiers": self.identifiers,
        }


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
    national_code: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    meters: Iterable[Any] | None = None,
    identifiers: Mapping[str, str] | Iterable[dict[str, str]] | None = None,
    time_zone: str = "Asia/Shanghai",
) -> Project:
    """Register a physical asset for its owner with a fresh project code.

    Guarantees: every field is validated before anything is written (capacity and commissioning
    date required for generating technologies); a national filing code, meter or identifier in
    another registry held by a live project is refused with ``duplicate_asset`` naming that
    project and the identifier, whether the check here or the database constraint (a concurrent
    registration) finds it, and the refusal is written to the ledger. A likely twin (see
    ``registry.selectors.likely_twins``) is not refused: the project stays pending, even for an
    administrator, with its candidates in ``possible_duplicates``. Otherwise registration by an
    administrator is approved at once, by a project owner it waits for approval. Every unit kind
    gets its stream; one ledger event.
    """
    if not is_administrator(actor) and not (
        actor.role == Role.PROJECT_OWNER and actor.organisation_id == owner.pk
    ):
        raise Forbidden(
            _("You may register projects only for your own organisation."), field="owner"
        )
    if not (name or "").strip():
        raise DomainError(_("A project needs a name."), field="name")
    province = validate_subdivision(province, field="province")
    capacity_mw, commissioning_date = _validated_plant(
        technology=technology, capacity_mw=capacity_mw, commissioning_date=commissioning_date
    )
    try:
        ZoneInfo(time_zone)
    except (KeyError, ValueError):
        raise DomainError(
            _("Unknown time zone %(zone)s.") % {"zone": time_zone}, field="time_zone"
        ) from None
    identity = AssetIdentity.validated(
        national_code=national_code,
        latitude=latitude,
        longitude=longitude,
        meters=meters,
        identifiers=identifiers,
        commissioning_date=commissioning_date,
    )
    fields = {
        "name": name.strip(),
        "owner": owner,
        "country": province[:2],
        "province": province,
        "grid_region": grid_region,
        "technology": technology,
        "capacity_mw": capacity_mw,
        "commissioning_date": commissioning_date,
        "subsidised": subsidised,
        "inside_ets_boundary": inside_ets_boundary,
        "under_energy_use_rights": under_energy_use_rights,
        "time_zone": time_zone,
    }
    try:
        return _register_asset(actor=actor, fields=fields, identity=identity)
    except DuplicateAsset as refusal:
        attempted = {key: fields[key] for key in ("name", "province", "technology", "capacity_mw")}
        record_refusal(
            actor=actor,
            operation="project_register",
            error=refusal,
            attempted={**attempted, "owner": owner.code, **identity.as_dict()},
        )
        raise


@retry_transaction()
def _register_asset(*, actor: User, fields: dict[str, Any], identity: AssetIdentity) -> Project:
    """The write of ``project_register``: refuse a held identity, create the project, its
    identity rows and streams, note likely twins, one ledger event."""
    country = fields["country"]
    with transaction.atomic():
        conflict = asset_identity_conflict(
            national_code=identity.national_code,
            country=country,
            meters=identity.meters,
            identifiers=identity.identifiers,
        )
        if conflict is not None:
            raise conflict
        project = _create_asset_rows(actor=actor, fields=fields, identity=identity)
        twins = likely_twins(project)
        if twins:
            project.possible_duplicates = twins
            project.status = Project.Status.PENDING
            Project.objects.filter(pk=project.pk).update(
                possible_duplicates=twins, status=Project.Status.PENDING
            )
        Stream.objects.bulk_create(
            Stream(project=project, unit_kind=unit_kind) for unit_kind in UnitKind.values
        )
        record_event(
            kind=LedgerEvent.Kind.PROJECT_REGISTERED,
            actor=actor,
            subjects=[f"project:{project.pk}", f"organisation:{fields['owner'].pk}"],
            payload={
                "project": project.code,
                "name": project.name,
                "owner": fields["owner"].code,
                "province": project.province,
                "technology": project.technology,
                "capacity_mw": project.capacity_mw,
                "commissioning_date": project.commissioning_date,
                "status": project.status,
                **identity.as_dict(),
                "possible_duplicates": twins,
            },
        )
    return project


def _create_asset_rows(*, actor: User, fields: dict[str, Any], identity: AssetIdentity) -> Project:
    """Insert the project with its meters and identifiers. A concurrent registration of the same
    identity makes the database refuse (unique index or exclusion constraint, after the other
    transaction committed): the holder is looked up again and named in the same refusal."""
    try:
        with transaction.atomic():
            project = Project.objects.create(
                code=_new_project_code(),
                national_code=identity.national_code,
                latitude=identity.latitude,
                longitude=identity.longitude,
                status=Project.Status.APPROVED
                if is_administrator(actor)
                else Project.Status.PENDING,
                **fields,
            )
            ProjectMeter.objects.bulk_create(
                ProjectMeter(
                    project=project,
                    country=project.country,
                    meter_id=meter.meter_id,
                    valid_from=meter.valid_from,
                    valid_to=meter.valid_to,
                    live=True,
                )
                for meter in identity.meters
            )
            ProjectIdentifier.objects.bulk_create(
                ProjectIdentifier(project=project, registry=registry, identifier=value, live=True)
                for registry, value in sorted(identity.identifiers.items())
            )
    except IntegrityError as error:
        constraint = _violated_constraint(error)
        if constraint in NORMALISATION_CONSTRAINTS:
            # Python's and PostgreSQL's upper-casing disagree on some rare characters.
            raise DomainError(
                _("This value cannot be stored in its normalised form; use plain letters."),
                field=NORMALISATION_CONSTRAINTS[constraint],
            ) from error
        if constraint not in IDENTITY_CONSTRAINTS:
            raise
        conflict = asset_identity_conflict(
            national_code=identity.national_code,
            country=fields["country"],
            meters=identity.meters,
            identifiers=identity.identifiers,
        )
        if conflict is None:
            conflict = DuplicateAsset(
                _("Another live project registered the same asset at the same moment."),
                details={"rule": "I9", "constraint": _violated_constraint(error)},
            )
        raise conflict from error
    return project


IDENTITY_CONSTRAINTS = frozenset(
    {"project_national_code_live_once", "meter_one_live_project_at_a_time", "identifier_live_once"}
)


NORMALISATION_CONSTRAINTS = {
    "project_national_code_normalised": "national_code",
    "meter_id_normalised": "meters",
}


def _violated_constraint(error: IntegrityError) -> str:
    diagnostics = getattr(error.__cause__, "diag", None)
    return getattr(diagnostics, "constraint_name", "") or ""


def project_set_status(*, actor: User, project: Project, status: str, reason: str = "") -> Project:
    """Approve or reject a pending project (administrators only), as a compare-and-set.

    A project with possible duplicates is approved only with a reason ("distinct asset: ..."),
    refused with ``duplicate_reason_required`` otherwise; the reason and the candidates go into
    the ledger event. Rejecting frees the asset's identifiers: the liveness of its meters and
    identifiers follows the status in the same transaction (and the database trigger)."""
    require_administrator(actor, _("approve or reject projects"))
    if status not in (Project.Status.APPROVED, Project.Status.REJECTED):
        raise DomainError(
            _("Unknown project status %(status)s.") % {"status": status}, field="status"
        )
    reason = (reason or "").strip()
    with transaction.atomic():
        current = Project.objects.select_for_update(of=("self",)).get(pk=project.pk)
        if current.status != Project.Status.PENDING:
            raise Conflict(
                _("Project %(project)s is not pending.") % {"project": project.code},
                code="invalid_status_change",
                field="status",
            )
        if status == Project.Status.APPROVED and current.possible_duplicates and not reason:
            raise DomainError(
                _(
                    "Project %(project)s may be a duplicate of %(candidates)s: approve it only "
                    'with a reason ("distinct asset: ...").'
                )
                % {
                    "project": project.code,
                    "candidates": ", ".join(
                        str(candidate.get("project")) for candidate in current.possible_duplicates
                    ),
                },
                code="duplicate_reason_required",
                field="reason",
                details={"possible_duplicates": current.possible_duplicates},
            )
        Project.objects.filter(pk=project.pk).update(status=status)
        live = status in Project.LIVE_STATUSES
        ProjectMeter.objects.filter(project=project).update(live=live)
        ProjectIdentifier.objects.filter(project=project).update(live=live)
        record_event(
            kind=LedgerEvent.Kind.PROJECT_STATUS,
            actor=actor,
            subjects=[f"project:{project.pk}"],
            payload={
                "project": project.code,
                "to": status,
                "reason": reason,
                **(
                    {"possible_duplicates": current.possible_duplicates}
                    if current.possible_duplicates
                    else {}
                ),
            },
        )
    project.status = status
    return project


def project_transfer_ownership(
    *, actor: User, project: Project, new_owner: Organisation, reason: str
) -> Project:
    """Give a physical asset to another organisation (administrators only, with a reason).

    The project keeps its code, streams, production and serials: a change of owner is never a
    second registration. Units already issued stay in the accounts that hold them. One ledger
    event naming the old and the new owner."""
    require_administrator(actor, _("transfer the ownership of projects"))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A reason is required."), code="reason_required", field="reason")
    with transaction.atomic():
        current = (
            Project.objects.select_for_update(of=("self",))
            .select_related("owner")
            .get(pk=project.pk)
        )
        if current.owner_id == new_owner.pk:
            raise Conflict(
                _("Project %(project)s already belongs to %(owner)s.")
                % {"project": current.code, "owner": new_owner.code},
                code="same_owner",
                field="owner",
            )
        old_owner = current.owner
        Project.objects.filter(pk=current.pk).update(owner=new_owner)
        record_event(
            kind=LedgerEvent.Kind.PROJECT_OWNERSHIP_TRANSFERRED,
            actor=actor,
            subjects=[
                f"project:{current.pk}",
                f"organisation:{old_owner.pk}",
                f"organisation:{new_owner.pk}",
            ],
            payload={
                "project": current.code,
                "from": {"code": old_owner.code, "name": old_owner.name},
                "to": {"code": new_owner.code, "name": new_owner.name},
                "reason": reason,
            },
        )
    current.owner = new_owner
    return current


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
    amount, period = production_validate_recording_refusal(
        actor=actor,
        operation="production_record_create",
        project=project,
        unit_kind=unit_kind,
        period_start=period_start,
        period_end=period_end,
        quantity=quantity,
    )
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


def production_validate_recording_refusal(
    *,
    actor: User,
    operation: str,
    project: Project,
    unit_kind: str,
    period_start: dt.datetime,
    period_end: dt.datetime,
    quantity: Decimal | int | str,
) -> tuple[Decimal, DateTimeTZRange]:
    """``production_validate``, writing a ``derived_only`` refusal to the ledger as a refused
    attempt: metered tonnes beside a generating asset's MWh are the double count auditors look
    for (other refusals of production input are plain bad input, not recorded)."""
    try:
        return production_validate(
            project=project,
            unit_kind=unit_kind,
            period_start=period_start,
            period_end=period_end,
            quantity=quantity,
        )
    except Conflict as refusal:
        if refusal.code == "derived_only":
            attempted = {
                "project": project.code,
                "unit_kind": unit_kind,
                "period": [period_start, period_end],
                "quantity": str(quantity),
            }
            record_refusal(actor=actor, operation=operation, error=refusal, attempted=attempted)
        raise


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
