"""The core of the registry: mechanisms, projects, streams, production, unit claims,
declarations and the ledger.

The central guarantee lives here as PostgreSQL exclusion constraints: a stream's production
periods never overlap (I1), its serials are allocated once (I2), and a unit is held by at most one
live claim of any mechanism (I3).
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import (
    ArrayField,
    BigIntegerRangeField,
    DateRangeField,
    DateTimeRangeField,
    RangeOperators,
)
from django.contrib.postgres.indexes import BrinIndex, GinIndex, OpClass
from django.db import models
from django.db.backends.postgresql.psycopg_any import NumericRange
from django.db.models import F, Q, Value
from django.db.models.functions import Lower, Trim, Upper
from django.utils.translation import gettext_lazy as _

from registry import serials as serial_numbers


class UnitKind(models.TextChoices):
    ELECTRICITY = "E", _("MWh of electricity")
    CARBON = "C", _("tonne CO2e")
    ENERGY_SAVED = "T", _("tonne of coal equivalent saved")


class Mechanism(models.Model):
    """An instrument recorded in the registry (GEC, I-REC, CCER, energy-use rights, CEA, ...).

    Mechanisms are data, not code: what a unit is, how long it is valid, how many times it may be
    transferred and whether issuance needs a declaration of no double counting.
    """

    class Kind(models.TextChoices):
        CERTIFICATE = "certificate", _("Certificate or credit")
        ALLOWANCE = "allowance", _("Allowance")

    code = models.CharField(_("code"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_zh = models.CharField(_("Chinese name"), max_length=200, blank=True)
    unit_kind = models.CharField(_("unit kind"), max_length=1, choices=UnitKind.choices)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    validity_months = models.PositiveIntegerField(
        _("validity in months"), null=True, blank=True, help_text=_("Empty: never expires.")
    )
    max_transfers = models.PositiveIntegerField(
        _("transfers allowed per unit"),
        null=True,
        blank=True,
        help_text=_("Empty: unlimited. GEC: 1 (a buyer may not resell)."),
    )
    requires_declaration = models.BooleanField(_("declaration required"), default=False)
    accepts_derived_units = models.BooleanField(
        _("may be derived from another unit kind"),
        default=False,
        help_text=_("E.g. CCER tonnes derived from a wind farm's MWh with a grid factor."),
    )
    issuing_body_name = models.CharField(_("issuing body"), max_length=200, blank=True)
    issuing_bodies = models.ManyToManyField(
        "accounts.Organisation",
        verbose_name=_("organisations allowed to issue"),
        blank=True,
        related_name="issuable_mechanisms",
    )
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("mechanism")
        verbose_name_plural = _("mechanisms")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class GridRegion(models.Model):
    """A regional power grid (North, East, Central, ...): core reference data that grid emission
    factors will hang on.

    The code is a unique short slug; each province belongs to at most one grid region, which the
    database guarantees through the unique province of ``GridRegionProvince``. Written only by
    ``grid_region_create`` and ``grid_region_update`` (each with a ledger event).
    """

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_zh = models.CharField(_("Chinese name"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("grid region")
        verbose_name_plural = _("grid regions")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def province_codes(self) -> list[str]:
        """The ISO 3166-2 codes of the region's provinces, sorted."""
        return sorted(self.provinces.values_list("province", flat=True))


class GridRegionProvince(models.Model):
    """One province (ISO 3166-2) of a grid region; the unique province is what keeps a province
    out of a second region, whatever code path writes."""

    grid_region = models.ForeignKey(
        GridRegion,
        verbose_name=_("grid region"),
        on_delete=models.CASCADE,
        related_name="provinces",
    )
    province = models.CharField(_("province (ISO 3166-2)"), max_length=6, unique=True)

    class Meta:
        verbose_name = _("grid region province")
        verbose_name_plural = _("grid region provinces")
        ordering = ["province"]

    def __str__(self) -> str:
        return self.province


LIVE_PROJECT_STATUSES = ("pending", "approved")
# Project.GENERATING_TECHNOLOGIES as plain values, for the check constraint (a Meta cannot see
# its model's attributes); a test keeps the two equal.
GENERATING_TECHNOLOGY_VALUES = ("biomass", "hydro", "solar", "wind")
# Keeps a child row's ``live`` flag equal to its project's liveness, whoever writes the row: the
# uniqueness of meters and identifiers among live projects is a constraint on the child table,
# which cannot see the parent's status, so the flag is copied under a trigger.
CHILD_LIVE_FROM_PROJECT = """
NEW.live := EXISTS (
    SELECT 1 FROM registry_project AS project
    WHERE project.id = NEW.project_id AND project.status IN ('pending', 'approved')
);
RETURN NEW;
"""


class DateRangeOf(models.Func):
    """``daterange(lower, upper, '[)')`` of two date columns, an open upper end when null."""

    function = "DATERANGE"
    output_field = DateRangeField()


class Project(models.Model):
    """A physical asset that produces units: a wind farm, a solar plant, a retrofit, a forest.

    The project code is unique and appears in every serial number of its streams. The asset's
    identity is unique among live (pending or approved) projects in the database: its national
    filing code (partial unique index), its revenue meters (``ProjectMeter``, an exclusion
    constraint over their validity) and its identifiers in other registries
    (``ProjectIdentifier``). A generating asset always states its capacity and commissioning
    date (check constraint). ``possible_duplicates`` holds the likely twins found at
    registration; such a project waits for an administrator's reasoned approval.
    """

    class Technology(models.TextChoices):
        WIND = "wind", _("Wind")
        SOLAR = "solar", _("Solar")
        HYDRO = "hydro", _("Hydro")
        BIOMASS = "biomass", _("Biomass")
        ENERGY_SAVING = "energy_saving", _("Energy saving")
        FORESTRY = "forestry", _("Forestry")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    # Technologies whose output is electricity: they record MWh (E) directly, and their tonnes
    # CO2e exist only as units derived from those MWh (never a metered tonne stream of their own).
    GENERATING_TECHNOLOGIES = frozenset(
        {Technology.WIND, Technology.SOLAR, Technology.HYDRO, Technology.BIOMASS}
    )
    LIVE_STATUSES = frozenset({Status.PENDING, Status.APPROVED})

    code = models.CharField(_("project code"), max_length=6, unique=True)
    name = models.CharField(_("name"), max_length=200)
    owner = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="projects",
    )
    country = models.CharField(_("country"), max_length=2, default="CN")
    province = models.CharField(_("province (ISO 3166-2)"), max_length=6)
    grid_region = models.CharField(_("grid region"), max_length=32, blank=True)
    technology = models.CharField(_("technology"), max_length=16, choices=Technology.choices)
    national_code = models.CharField(
        _("national project filing code"),
        max_length=32,
        blank=True,
        default="",
        help_text=_("The asset's code in the national project registry (建档立卡编码)."),
    )
    latitude = models.DecimalField(
        _("latitude (WGS 84)"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude (WGS 84)"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    capacity_mw = models.DecimalField(
        _("capacity (MW)"), max_digits=12, decimal_places=3, null=True, blank=True
    )
    commissioning_date = models.DateField(_("commissioning date"), null=True, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    subsidised = models.BooleanField(_("receives a subsidy"), default=False)
    inside_ets_boundary = models.BooleanField(_("inside an ETS entity's boundary"), default=False)
    under_energy_use_rights = models.BooleanField(
        _("under energy-use-rights control"), default=False
    )
    possible_duplicates = models.JSONField(
        _("possible duplicates"),
        default=list,
        blank=True,
        help_text=_("Likely twins found at registration: an administrator decides, with a reason."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    registered_at = models.DateTimeField(_("registered at"), auto_now_add=True)

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["national_code"],
                condition=Q(status__in=LIVE_PROJECT_STATUSES) & ~Q(national_code=""),
                name="project_national_code_live_once",
            ),
            models.CheckConstraint(
                condition=Q(national_code=Upper(Trim("national_code"))),
                name="project_national_code_normalised",
            ),
            models.CheckConstraint(
                condition=(Q(latitude__isnull=True) & Q(longitude__isnull=True))
                | (
                    Q(latitude__isnull=False)
                    & Q(longitude__isnull=False)
                    & Q(latitude__gte=-90)
                    & Q(latitude__lte=90)
                    & Q(longitude__gte=-180)
                    & Q(longitude__lte=180)
                ),
                name="project_coordinates_wgs84",
            ),
            models.CheckConstraint(
                condition=Q(capacity_mw__isnull=True) | Q(capacity_mw__gt=0),
                name="project_capacity_positive",
            ),
            models.CheckConstraint(
                condition=~Q(technology__in=GENERATING_TECHNOLOGY_VALUES)
                | (Q(capacity_mw__isnull=False) & Q(commissioning_date__isnull=False)),
                name="project_generating_has_capacity_and_date",
            ),
        ]
        indexes = [
            # Likely twins: similar names within a province (pg_trgm similarity).
            GinIndex(OpClass(Lower("name"), name="gin_trgm_ops"), name="project_name_trigram"),
            # Likely twins: same technology and province, capacities in a window.
            models.Index(
                fields=["technology", "province", "capacity_mw"], name="project_twin_lookup"
            ),
            # Likely twins: projects near a point (a latitude band first).
            models.Index(
                fields=["latitude", "longitude"],
                condition=Q(latitude__isnull=False),
                name="project_location",
            ),
        ]
        triggers = [
            # A status change moves the liveness of the project's meters and identifiers in the
            # same statement, whatever code path changed the status.
            pgtrigger.Trigger(
                name="project_liveness_to_children",
                when=pgtrigger.After,
                operation=pgtrigger.UpdateOf("status"),
                condition=pgtrigger.Q(old__status__df=pgtrigger.F("new__status")),
                func="""
                UPDATE registry_projectmeter SET live = live WHERE project_id = NEW.id;
                UPDATE registry_projectidentifier SET live = live WHERE project_id = NEW.id;
                RETURN NULL;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def generates_electricity(self) -> bool:
        """Whether the asset's output is electricity (see ``GENERATING_TECHNOLOGIES``)."""
        return self.technology in self.GENERATING_TECHNOLOGIES

    @property
    def is_live(self) -> bool:
        """Pending or approved: the asset's identifiers are taken."""
        return self.status in self.LIVE_STATUSES


class ProjectMeter(models.Model):
    """A revenue meter (grid metering point) whose readings are a project's production, over a
    validity of whole days [valid_from, valid_to) (open end while it still measures the asset).

    One meter measures at most one live project at any moment: an exclusion constraint over
    (country, meter id, validity) among live rows. ``live`` mirrors the project's status; a
    trigger sets it on every write of the row and the project's status trigger refreshes it.
    """

    project = models.ForeignKey(
        Project, verbose_name=_("project"), on_delete=models.CASCADE, related_name="meters"
    )
    country = models.CharField(_("country"), max_length=2)
    meter_id = models.CharField(_("meter id"), max_length=64)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to (exclusive)"), null=True, blank=True)
    live = models.BooleanField(_("project is live"), default=True)

    class Meta:
        verbose_name = _("project meter")
        verbose_name_plural = _("project meters")
        ordering = ["project", "meter_id", "valid_from"]
        constraints = [
            ExclusionConstraint(
                name="meter_one_live_project_at_a_time",
                expressions=[
                    ("country", RangeOperators.EQUAL),
                    ("meter_id", RangeOperators.EQUAL),
                    (DateRangeOf("valid_from", "valid_to", Value("[)")), RangeOperators.OVERLAPS),
                ],
                condition=Q(live=True),
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="meter_validity_ordered",
            ),
            models.CheckConstraint(
                condition=Q(meter_id=Upper(Trim("meter_id"))) & ~Q(meter_id=""),
                name="meter_id_normalised",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="meter_live_from_project",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update,
                func=CHILD_LIVE_FROM_PROJECT,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.country}:{self.meter_id}"


class ProjectIdentifier(models.Model):
    """A project's identifier in another registry (I-REC device code, GEC filing code, VCS id,
    CCER number, this registry's exports): one per registry and project.

    Unique among live projects in the database (partial unique constraint on ``live``, which a
    trigger keeps equal to the project's liveness). Interop links imported records by it.
    """

    project = models.ForeignKey(
        Project, verbose_name=_("project"), on_delete=models.CASCADE, related_name="identifiers"
    )
    registry = models.CharField(_("registry"), max_length=32)
    identifier = models.CharField(_("identifier"), max_length=100)
    live = models.BooleanField(_("project is live"), default=True)

    class Meta:
        verbose_name = _("identifier in another registry")
        verbose_name_plural = _("identifiers in other registries")
        ordering = ["project", "registry"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "registry"], name="identifier_one_per_registry"
            ),
            models.UniqueConstraint(
                fields=["registry", "identifier"],
                condition=Q(live=True),
                name="identifier_live_once",
            ),
            models.CheckConstraint(
                condition=~Q(registry="") & ~Q(identifier=""), name="identifier_not_empty"
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="identifier_live_from_project",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update,
                func=CHILD_LIVE_FROM_PROJECT,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.registry}:{self.identifier}"


# Technologies whose tonnes CO2e are never recorded directly: generating assets derive them
# from their MWh, energy-saving projects from their saved tce (trigger tonnes_derived_only).
DERIVED_ONLY_TECHNOLOGIES = frozenset(
    {*Project.GENERATING_TECHNOLOGIES, Project.Technology.ENERGY_SAVING}
)
DERIVED_ONLY_TECHNOLOGIES_SQL = ", ".join(
    f"'{technology}'" for technology in sorted(DERIVED_ONLY_TECHNOLOGIES)
)


class Stream(models.Model):
    """A project's output of one unit kind; owns the monotonic serial sequence of that output.

    ``next_sequence`` and ``carried_remainder`` change only under the stream's allocation lock.
    """

    project = models.ForeignKey(
        Project, verbose_name=_("project"), on_delete=models.PROTECT, related_name="streams"
    )
    unit_kind = models.CharField(_("unit kind"), max_length=1, choices=UnitKind.choices)
    next_sequence = models.BigIntegerField(_("next serial sequence"), default=1)
    carried_remainder = models.DecimalField(
        _("fraction carried to the next period"), max_digits=20, decimal_places=6, default=0
    )

    class Meta:
        verbose_name = _("stream")
        verbose_name_plural = _("streams")
        constraints = [
            models.UniqueConstraint(fields=["project", "unit_kind"], name="stream_one_per_kind"),
            models.CheckConstraint(
                condition=Q(carried_remainder__gte=0) & Q(carried_remainder__lt=1),
                name="stream_remainder_is_a_fraction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project.code}-{self.unit_kind}"


class ProductionRecord(models.Model):
    """Metered or verified output of a stream over a half-open UTC period.

    Receives one contiguous serial range, one serial per whole unit of quantity plus the
    remainder carried in; the new fraction is carried to the next period. The database refuses
    overlapping periods (I1) and overlapping serial ranges (I2) within a stream.
    """

    class Source(models.TextChoices):
        METERED = "metered", _("Metered or verified")
        DERIVED = "derived", _("Derived from another unit kind")
        ALLOCATED = "allocated", _("Allowances allocated for a compliance year")
        CORRECTION = "correction", _("Correction of a recorded quantity")

    stream = models.ForeignKey(
        Stream, verbose_name=_("stream"), on_delete=models.PROTECT, related_name="records"
    )
    period = DateTimeRangeField(_("period"))
    quantity = models.DecimalField(_("quantity"), max_digits=20, decimal_places=6)
    carried_in = models.DecimalField(_("carried in"), max_digits=20, decimal_places=6, default=0)
    carried_out = models.DecimalField(_("carried out"), max_digits=20, decimal_places=6, default=0)
    units = models.BigIntegerField(_("whole units"))
    serials = BigIntegerRangeField(_("serial range"), null=True, blank=True)
    vintage = models.PositiveIntegerField(_("vintage (YYYYMM)"))
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.METERED
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("entered by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # A correction (source "correction") is a compensating entry: the record it corrects never
    # changes. Upward (quantity > 0) it receives serials of its own after the stream's existing
    # ones; downward (quantity < 0) it withdraws the corrected record's highest serials.
    corrects = models.ForeignKey(
        "self",
        verbose_name=_("corrects record"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="corrections",
    )
    withdrawn = BigIntegerRangeField(
        _("serials withdrawn from the corrected record"), null=True, blank=True
    )
    # Empty by default in the database too, so that rows written outside Django (the
    # benchmarks' raw-SQL baselines, a hand in psql) need not name them.
    reason = models.TextField(_("reason for the correction"), blank=True, db_default="")
    evidence = models.TextField(_("evidence for the correction"), blank=True, db_default="")

    class Meta:
        verbose_name = _("production record")
        verbose_name_plural = _("production records")
        constraints = [
            # I1: metered periods of a stream never overlap, and a derived record (tonnes
            # derived from MWh already claimed) never overlaps a metered one. Derived records of
            # one period may coexist: each comes from distinct, already-claimed source units.
            ExclusionConstraint(
                name="production_periods_never_overlap",
                expressions=[("stream", RangeOperators.EQUAL), ("period", RangeOperators.OVERLAPS)],
                condition=Q(source="metered"),
            ),
            # Corrections share the period of the record they correct by design.
            ExclusionConstraint(
                name="derived_never_overlaps_metered",
                expressions=[
                    ("stream", RangeOperators.EQUAL),
                    ("period", RangeOperators.OVERLAPS),
                    ("source", RangeOperators.NOT_EQUAL),
                ],
                condition=~Q(source="correction"),
            ),
            # A serial is withdrawn by at most one downward correction.
            ExclusionConstraint(
                name="serials_withdrawn_once",
                expressions=[
                    ("stream", RangeOperators.EQUAL),
                    ("withdrawn", RangeOperators.OVERLAPS),
                ],
                condition=Q(withdrawn__isnull=False),
            ),
            models.CheckConstraint(
                condition=(Q(source="correction") & Q(corrects__isnull=False) & ~Q(reason=""))
                | (~Q(source="correction") & Q(corrects__isnull=True)),
                name="correction_names_record_and_reason",
            ),
            models.CheckConstraint(
                condition=Q(withdrawn__isnull=True)
                | Q(source="correction", quantity__lt=0, serials__isnull=True, units=0),
                name="only_downward_corrections_withdraw",
            ),
            ExclusionConstraint(
                name="production_serials_allocated_once",
                expressions=[
                    ("stream", RangeOperators.EQUAL),
                    ("serials", RangeOperators.OVERLAPS),
                ],
            ),
            models.CheckConstraint(
                condition=(Q(quantity__gte=0) | Q(source="correction")) & Q(units__gte=0),
                name="production_nonnegative",
            ),
            models.CheckConstraint(
                condition=~Q(source="correction") | ~Q(quantity=0),
                name="correction_not_zero",
            ),
        ]
        triggers = [
            # I6 for corrections: a downward correction withdraws serials of the record it
            # corrects (same stream), and none that a live claim holds.
            pgtrigger.Trigger(
                name="withdrawal_leaves_no_claim_without_production",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.UpdateOf("withdrawn", "corrects_id"),
                condition=pgtrigger.Q(new__withdrawn__isnull=False),
                func="""
                IF NOT EXISTS (
                    SELECT 1 FROM registry_productionrecord AS corrected
                    WHERE corrected.id = NEW.corrects_id
                      AND corrected.stream_id = NEW.stream_id
                      AND corrected.serials @> NEW.withdrawn
                ) THEN
                    RAISE EXCEPTION 'withdrawn serials % lie outside production record %',
                        NEW.withdrawn, NEW.corrects_id USING ERRCODE = '23514';
                END IF;
                IF EXISTS (
                    SELECT 1 FROM registry_unitclaim AS claim
                    WHERE claim.stream_id = NEW.stream_id
                      AND claim.status = 'live'
                      AND claim.serials && NEW.withdrawn
                ) THEN
                    RAISE EXCEPTION 'withdrawn serials % are held by a live claim',
                        NEW.withdrawn USING ERRCODE = '23514';
                END IF;
                RETURN NEW;
                """,
            ),
            # I9: a generating asset's tonnes exist only as units derived from its MWh, an
            # energy-saving project's from its saved tce; a metered tonne record beside them
            # would count one output twice. The service refuses first (derived_only).
            pgtrigger.Trigger(
                name="tonnes_derived_only",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.UpdateOf("stream_id", "source"),
                condition=pgtrigger.Q(new__source="metered"),
                func=f"""
                IF EXISTS (
                    SELECT 1 FROM registry_stream AS stream
                    JOIN registry_project AS project ON project.id = stream.project_id
                    WHERE stream.id = NEW.stream_id AND stream.unit_kind = 'C'
                      AND project.technology IN ({DERIVED_ONLY_TECHNOLOGIES_SQL})
                ) THEN
                    RAISE EXCEPTION 'derived_only: stream % records tonnes derived only',
                        NEW.stream_id USING ERRCODE = '23514', CONSTRAINT = 'tonnes_derived_only';
                END IF;
                RETURN NEW;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stream} {self.vintage} ({self.units})"

    def serial_range(self) -> serial_numbers.SerialRange | None:
        if self.serials is None:
            return None
        return serial_numbers.SerialRange(self.serials.lower, self.serials.upper)

    def serials_in_force(self):
        """The record's serials minus those downward corrections withdrew (always its highest
        ones, so what remains is one range); None when nothing remains."""
        if self.serials is None:
            return None
        withdrawn = sum(
            taken.upper - taken.lower
            for taken in self.corrections.filter(withdrawn__isnull=False).values_list(
                "withdrawn", flat=True
            )
        )
        upper = self.serials.upper - withdrawn
        if upper <= self.serials.lower:
            return None
        return NumericRange(self.serials.lower, upper, "[)")


class UnitClaim(models.Model):
    """A mechanism's claim on a range of one stream's serials: "these units are GEC".

    The exclusion constraint ``one_live_claim_per_unit`` refuses a second live claim on any unit,
    whichever mechanism makes it (I3). A derived claim (CCER tonnes from MWh) holds the tonne range
    on the carbon stream; its ``source_claim`` holds the MWh it was derived from, so both the MWh
    and the tonnes are refused to any other mechanism.
    """

    class Role(models.TextChoices):
        DIRECT = "direct", _("Units of the mechanism's own kind")
        SOURCE = "source", _("Underlying units consumed by a derivation")
        DERIVED = "derived", _("Units derived from another kind")

    class Status(models.TextChoices):
        LIVE = "live", _("Live")
        REVOKED = "revoked", _("Revoked")

    mechanism = models.ForeignKey(
        Mechanism, verbose_name=_("mechanism"), on_delete=models.PROTECT, related_name="claims"
    )
    stream = models.ForeignKey(
        Stream, verbose_name=_("stream"), on_delete=models.PROTECT, related_name="claims"
    )
    production_record = models.ForeignKey(
        ProductionRecord,
        verbose_name=_("production record"),
        on_delete=models.PROTECT,
        related_name="claims",
    )
    serials = BigIntegerRangeField(_("serial range"))
    quantity = models.BigIntegerField(_("quantity"))
    vintage = models.PositiveIntegerField(_("vintage (YYYYMM)"))
    role = models.CharField(_("role"), max_length=8, choices=Role.choices, default=Role.DIRECT)
    source_claim = models.OneToOneField(
        "self",
        verbose_name=_("source claim"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="derived_claim",
    )
    conversion_factor = models.DecimalField(
        _("conversion factor"), max_digits=12, decimal_places=6, null=True, blank=True
    )
    conversion_source = models.CharField(_("factor source"), max_length=200, blank=True)
    account = models.ForeignKey(
        "accounts.HoldingAccount",
        verbose_name=_("issued into account"),
        on_delete=models.PROTECT,
        related_name="issued_claims",
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.LIVE
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    declaration = models.ForeignKey(
        "Declaration",
        verbose_name=_("declaration of no double counting"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="claims",
        help_text=_("The declaration that covered the units when they were issued (R13)."),
    )
    split_from = models.ForeignKey(
        "self",
        verbose_name=_("split from claim"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="split_parts",
        help_text=_("Set when part of a claim was released (R7) and the rest kept apart."),
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("issued by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    issued_at = models.DateTimeField(_("issued at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revocation_reason = models.TextField(_("revocation reason"), blank=True)

    class Meta:
        verbose_name = _("unit claim")
        verbose_name_plural = _("unit claims")
        constraints = [
            ExclusionConstraint(
                name="one_live_claim_per_unit",
                expressions=[
                    ("stream", RangeOperators.EQUAL),
                    ("serials", RangeOperators.OVERLAPS),
                ],
                condition=Q(status="live"),
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="claim_quantity_positive"),
            models.CheckConstraint(
                condition=Q(role="derived", source_claim__isnull=False, conversion_factor__gt=0)
                | (~Q(role="derived") & Q(source_claim__isnull=True)),
                name="claim_derivation_recorded",
            ),
        ]
        indexes = [
            models.Index(fields=["mechanism", "vintage"], name="claim_mechanism_vintage"),
            # The admin's claim list, newest first (-id), filtered by status or role. Live
            # direct claims are nearly all of them and the primary key serves those; the
            # partial indexes hold only the rare ones (revoked; derivations' source and derived).
            models.Index(
                fields=["status", "id"], condition=~Q(status="live"), name="claim_not_live"
            ),
            models.Index(
                fields=["role", "id"], condition=~Q(role="direct"), name="claim_derivation"
            ),
        ]
        triggers = [
            # I6: a claim lies inside its production record's serial range, and its quantity is
            # the length of its range, whatever code path inserts it.
            pgtrigger.Trigger(
                name="claim_inside_production",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.UpdateOf("serials", "production_record_id"),
                func="""
                IF NEW.quantity <> upper(NEW.serials) - lower(NEW.serials) THEN
                    RAISE EXCEPTION 'claim quantity % does not match its serial range %',
                        NEW.quantity, NEW.serials USING ERRCODE = '23514';
                END IF;
                IF NOT EXISTS (
                    SELECT 1 FROM registry_productionrecord AS record
                    WHERE record.id = NEW.production_record_id
                      AND record.stream_id = NEW.stream_id
                      AND record.serials @> NEW.serials
                ) THEN
                    RAISE EXCEPTION 'claim serials % lie outside production record %',
                        NEW.serials, NEW.production_record_id USING ERRCODE = '23514';
                END IF;
                IF NEW.status = 'live' AND EXISTS (
                    SELECT 1 FROM registry_productionrecord AS correction
                    WHERE correction.corrects_id = NEW.production_record_id
                      AND correction.withdrawn && NEW.serials
                ) THEN
                    RAISE EXCEPTION 'claim serials % were withdrawn from production record %',
                        NEW.serials, NEW.production_record_id USING ERRCODE = '23514';
                END IF;
                RETURN NEW;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mechanism.code} claim {self.pk}"

    def serial_range(self) -> serial_numbers.SerialRange:
        return serial_numbers.SerialRange(self.serials.lower, self.serials.upper)


class MechanismRegistration(models.Model):
    """A project registered under a mechanism for a crediting period (e.g. a wind farm's CCER
    project registration under an approved methodology).

    At most one active registration per project and mechanism covers any moment (exclusion
    constraint). A renewable project's active CCER registration drives R7: its untraded GECs in
    the crediting period are frozen, no new GEC is issued for it, and CCER issuance cancels the
    frozen GECs for the MWh it consumes.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    project = models.ForeignKey(
        Project,
        verbose_name=_("project"),
        on_delete=models.PROTECT,
        related_name="mechanism_registrations",
    )
    mechanism = models.ForeignKey(
        Mechanism,
        verbose_name=_("mechanism"),
        on_delete=models.PROTECT,
        related_name="registrations",
    )
    reference = models.CharField(_("registration reference"), max_length=100)
    crediting_period = DateTimeRangeField(_("crediting period"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("registered by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    registered_at = models.DateTimeField(_("registered at"), auto_now_add=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)

    class Meta:
        verbose_name = _("mechanism registration")
        verbose_name_plural = _("mechanism registrations")
        ordering = ["pk"]
        constraints = [
            ExclusionConstraint(
                name="one_active_registration_per_period",
                expressions=[
                    ("project", RangeOperators.EQUAL),
                    ("mechanism", RangeOperators.EQUAL),
                    ("crediting_period", RangeOperators.OVERLAPS),
                ],
                condition=Q(status="active"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project.code} {self.mechanism.code} {self.reference}"


class Declaration(models.Model):
    """A project owner's signed statement that a stream's output for a period is not and will not
    be registered under any other mechanism or registry.

    The exact text is stored with its SHA-256; revocation stops future issuance and never
    rewrites the past.
    """

    project = models.ForeignKey(
        Project, verbose_name=_("project"), on_delete=models.PROTECT, related_name="declarations"
    )
    stream = models.ForeignKey(
        Stream, verbose_name=_("stream"), on_delete=models.PROTECT, related_name="declarations"
    )
    period = DateTimeRangeField(_("period"))
    template_version = models.CharField(_("template version"), max_length=16)
    language = models.CharField(_("language"), max_length=8, default="en")
    text = models.TextField(_("text as signed"))
    text_sha256 = models.CharField(_("SHA-256 of the text"), max_length=64)
    other_registrations = models.JSONField(
        _("registrations declared elsewhere"), default=list, blank=True
    )
    signer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("signer"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    signed_at = models.DateTimeField(_("signed at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("declaration")
        verbose_name_plural = _("declarations")
        triggers = [
            pgtrigger.Protect(
                name="declaration_text_immutable",
                operation=pgtrigger.UpdateOf("text", "text_sha256", "signer_id", "signed_at"),
            ),
            pgtrigger.Protect(name="declaration_never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"declaration {self.pk} ({self.stream})"


class LedgerEvent(models.Model):
    """One change to the registry, written in the same transaction as the change.

    Rows can never be updated or deleted (database trigger). ``event_hash`` is the SHA-256 of the
    canonical JSON of kind, actor, time, subjects and payload; ``txid`` is stamped by the database
    with the writing transaction's id, which is what lets a checkpoint seal only committed events.
    """

    class Kind(models.TextChoices):
        ORGANISATION_CREATED = "organisation.created", _("Organisation created")
        ACCOUNT_OPENED = "account.opened", _("Account opened")
        ACCOUNT_STATUS = "account.status", _("Account status changed")
        PROJECT_REGISTERED = "project.registered", _("Project registered")
        PROJECT_STATUS = "project.status", _("Project status changed")
        PROJECT_OWNERSHIP_TRANSFERRED = (
            "project.ownership_transferred",
            _("Project ownership transferred"),
        )
        PRODUCTION_SUBMITTED = "production.submitted", _("Production submitted for verification")
        PRODUCTION_REJECTED = "production.rejected", _("Submitted production rejected")
        PRODUCTION_RECORDED = "production.recorded", _("Production recorded")
        PRODUCTION_CORRECTED = "production.corrected", _("Production corrected")
        DECLARATION_SIGNED = "declaration.signed", _("Declaration signed")
        DECLARATION_REVOKED = "declaration.revoked", _("Declaration revoked")
        ISSUANCE_REQUESTED = "issuance.requested", _("Issuance requested")
        ISSUANCE_REJECTED = "issuance.rejected", _("Issuance request rejected")
        UNITS_ISSUED = "units.issued", _("Units issued")
        CLAIM_REVOKED = "claim.revoked", _("Claim revoked")
        UNITS_TRANSFERRED = "units.transferred", _("Units transferred")
        UNITS_RETIRED = "units.retired", _("Units retired")
        UNITS_CANCELLED = "units.cancelled", _("Units cancelled")
        UNITS_EXPIRED = "units.expired", _("Units expired")
        BLOCK_STATUS = "block.status", _("Block status changed")
        ATTEMPT_REFUSED = "attempt.refused", _("Refused attempt")
        RULE_FLAGGED = "rule.flagged", _("Rule flagged an operation")
        PROJECT_MECHANISM_REGISTERED = (
            "project.mechanism_registered",
            _("Project registered for a mechanism"),
        )
        UNITS_FROZEN = "units.frozen", _("Units frozen by a rule")
        ALLOWANCES_ALLOCATED = "allowances.allocated", _("Allowances allocated")
        UNITS_SURRENDERED = "units.surrendered", _("Units surrendered for compliance")
        ADJUSTMENT_STATUS = "adjustment.status", _("Corresponding adjustment status changed")
        EXTERNAL_IMPORTED = "external.imported", _("Records imported from another registry")
        EXTERNAL_MATCHED = "external.matched", _("Imported record linked to a project")
        EMISSIONS_VERIFIED = "emissions.verified", _("Verified emissions recorded")
        NEUTRALITY_EVENT_CREATED = "neutrality_event.created", _("Neutrality event recorded")
        RETIREMENT_ALLOCATED = "retirement.allocated", _("Part of a retirement allocated")
        MECHANISM_CREATED = "mechanism.created", _("Mechanism created")
        GRID_REGION_CREATED = "grid_region.created", _("Grid region created")
        GRID_REGION_UPDATED = "grid_region.updated", _("Grid region updated")
        GRID_DATA_IMPORTED = "grid_data.imported", _("Grid data imported")
        SCOPE2_REPORTED = "scope2.reported", _("Scope 2 report made")
        LEDGER_SEALED = "ledger.sealed", _("Ledger sealed by a person")
        # Green power settlement
        GREEN_POWER_CONTRACT_CREATED = (
            "green_power.contract_created",
            _("Green power contract created"),
        )
        CONSUMPTION_RECORDED = "consumption.recorded", _("Electricity consumption recorded")
        GREEN_POWER_SETTLED = "green_power.settled", _("Green power month settled")
        GREEN_POWER_CONFIRMED = "green_power.confirmed", _("Green power settlement confirmed")

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    subjects = ArrayField(models.CharField(max_length=40), verbose_name=_("subjects"), default=list)
    payload = models.JSONField(_("payload"))
    event_hash = models.CharField(_("event hash"), max_length=64)
    txid = models.BigIntegerField(_("transaction id"), null=True, editable=False)

    class Meta:
        verbose_name = _("ledger event")
        verbose_name_plural = _("ledger events")
        ordering = ["id"]
        indexes = [
            # The ledger is append-only, so time and transaction id follow the physical order:
            # block-range indexes cost almost nothing per event and serve range scans.
            BrinIndex(fields=["txid"], name="ledger_txid", autosummarize=True),
            BrinIndex(fields=["occurred_at"], name="ledger_time", autosummarize=True),
            models.Index(
                fields=["occurred_at"],
                condition=Q(kind="attempt.refused"),
                name="ledger_refused_attempts",
            ),
            # The admin's ledger list, newest first (-id), filtered by kind: a rare kind would
            # otherwise walk the primary key backwards through the whole ledger.
            models.Index(fields=["kind", "id"], name="ledger_kind_newest"),
            # A serial's history and the API's ledger filters find events by their subjects.
            GinIndex(fields=["subjects"], name="ledger_subjects"),
        ]
        triggers = [
            pgtrigger.Protect(
                name="ledger_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
            pgtrigger.Trigger(
                name="ledger_stamp_txid",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                func="NEW.txid := pg_current_xact_id()::text::bigint; RETURN NEW;",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}"


class Checkpoint(models.Model):
    """A seal over every ledger event written by transactions with ids in [xid_from, xid_to).

    ``xid_to`` is the oldest transaction still running when the seal was made, so every event in
    the range had committed. ``checkpoint_hash`` chains the Merkle root to the previous checkpoint.
    """

    sequence = models.PositiveIntegerField(_("sequence"), unique=True)
    xid_from = models.BigIntegerField(_("from transaction id"))
    xid_to = models.BigIntegerField(_("to transaction id (exclusive)"))
    event_count = models.PositiveIntegerField(_("events"))
    last_event_id = models.BigIntegerField(_("highest event id"), null=True)
    merkle_root = models.CharField(_("Merkle root"), max_length=64)
    previous_hash = models.CharField(_("previous checkpoint hash"), max_length=64)
    checkpoint_hash = models.CharField(_("checkpoint hash"), max_length=64, unique=True)
    sealed_at = models.DateTimeField(_("sealed at"))

    class Meta:
        verbose_name = _("ledger checkpoint")
        verbose_name_plural = _("ledger checkpoints")
        ordering = ["sequence"]
        triggers = [
            pgtrigger.Protect(
                name="checkpoint_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.sequence}"


class IdempotencyRecord(models.Model):
    """The first response to a POST that carried an ``Idempotency-Key``.

    One row per (caller, key): a repeat with the same request gets the stored status and body
    without acting again; a different request under the same key is refused. ``status_code`` is
    empty while the first request is still being processed. Rows live at least 24 hours.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("caller"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    request_hash = models.CharField(_("SHA-256 of the request"), max_length=64)
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("path"), max_length=500)
    status_code = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    content_type = models.CharField(_("response content type"), max_length=64, blank=True)
    response_body = models.JSONField(_("response body"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_caller")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
