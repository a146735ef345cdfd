"""Load a small demo registry that shows the point: two issuers, a few projects, GECs issued,
transferred and retired, CCER derived from a solar farm's MWh, and a refused second claim.

Idempotent: a second run finds the demo in place and changes nothing.
"""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Organisation, User
from accounts.services import holding_account_open, organisation_create
from issuance.services import issuance_request_create, production_submit, unit_claim_issue
from registry.errors import DoubleClaim
from registry.ledger import seal
from registry.models import Mechanism
from registry.serials import SerialRange
from registry.services import (
    declaration_sign,
    grid_region_create,
    production_record_create,
    project_register,
)
from tracking.accounting.services import grid_data_import, grid_factors_compute
from tracking.services import block_retire, block_transfer

DEMO_ADMIN = "admin"
DEMO_PASSWORD = "registry-demo"  # printed by `make run`; a demo database only
SHANGHAI = ZoneInfo("Asia/Shanghai")
# The demo wind farm's national filing code (the 17-character project code of the GEC system).
DEMO_WIND_NATIONAL_CODE = "150821W2021120001"


def _month(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(year, month, 1, tzinfo=SHANGHAI)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


def _user(username: str, organisation: Organisation | None, role: str, **flags) -> User:
    user, created = User.objects.get_or_create(
        username=username, defaults={"organisation": organisation, "role": role, **flags}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user


class Command(BaseCommand):
    help = "Load the demo data set (idempotent)."

    def handle(self, *args, **options):
        administrator = _user(
            DEMO_ADMIN, None, User.Role.ADMINISTRATOR, is_staff=True, is_superuser=True
        )
        if Organisation.objects.filter(code="windco").exists():
            self.stdout.write("demo data already present; nothing changed")
            self._print_login()
            return
        with transaction.atomic():
            gec_officer, windco_account, solar_record = self._load(administrator)
        # The point of the registry: the same MWh offered again as TIGR is refused, and the
        # refusal (naming the CCER claim) is written to the ledger in a transaction of its own.
        try:
            unit_claim_issue(
                actor=gec_officer,
                mechanism="TIGR",
                production_record=solar_record,
                account=windco_account,
                serial_range=SerialRange(
                    solar_record.serials.lower, solar_record.serials.lower + 1000
                ),
            )
        except DoubleClaim as refusal:
            self.stdout.write(f"refused as expected: {refusal.message}")
        self._grid(administrator)
        seal()
        # Computed after the seal, so that the published factors name the checkpoint that
        # covers the retirements they count.
        for month_number in (1, 2, 3):
            grid_factors_compute(actor=administrator, year=2025, month=month_number)
        self.stdout.write(self.style.SUCCESS("demo data loaded"))
        self._print_login()

    def _grid(self, administrator: User) -> None:
        """Three grid regions with three months of statistics (orders of magnitude of the
        Chinese grids, not official figures), so /public/grid-factors/ has something to show."""
        regions = {
            "north": ("North China", "华北电网", ["CN-BJ", "CN-TJ", "CN-HE", "CN-SX", "CN-NM"]),
            "northwest": ("Northwest China", "西北电网", ["CN-SN", "CN-GS", "CN-QH", "CN-NX"]),
            "east": ("East China", "华东电网", ["CN-SH", "CN-JS", "CN-ZJ", "CN-AH", "CN-FJ"]),
        }
        for code, (name, name_zh, provinces) in regions.items():
            grid_region_create(
                actor=administrator, code=code, name=name, name_zh=name_zh, provinces=provinces
            )
        sources = {
            "north": [
                ("coal", 30_000_000, 26_400_000),
                ("wind", 6_000_000, 0),
                ("solar", 2_500_000, 0),
            ],
            "northwest": [
                ("coal", 15_000_000, 13_500_000),
                ("wind", 5_000_000, 0),
                ("solar", 4_000_000, 0),
                ("hydro", 3_000_000, 0),
            ],
            "east": [
                ("coal", 35_000_000, 29_750_000),
                ("gas", 4_000_000, 1_600_000),
                ("nuclear", 6_000_000, 0),
                ("solar", 3_000_000, 0),
            ],
        }
        months = ("2025-01", "2025-02", "2025-03")
        generation = ["region,period,source,generation_mwh,emissions_t"] + [
            f"{code},{period},{source},{mwh},{tonnes}"
            for period in months
            for code, rows in sources.items()
            for source, mwh, tonnes in rows
        ]
        exchanges = ["period,from_region,to_region,mwh"] + [
            line
            for period in months
            for line in (f"{period},northwest,north,2000000", f"{period},north,east,3000000")
        ]
        grid_data_import(actor=administrator, kind="generation", content="\n".join(generation))
        grid_data_import(actor=administrator, kind="exchanges", content="\n".join(exchanges))

    def _print_login(self) -> None:
        self.stdout.write(f"admin login: {DEMO_ADMIN} / {DEMO_PASSWORD}")

    def _load(self, administrator: User):
        gec_centre = organisation_create(
            actor=administrator,
            code="gec-centre",
            name="National green certificate centre",
            kind=Organisation.Kind.ISSUING_BODY,
        )
        carbon_registry = organisation_create(
            actor=administrator,
            code="ccer-registry",
            name="National GHG voluntary reduction registry",
            kind=Organisation.Kind.ISSUING_BODY,
        )
        windco = organisation_create(
            actor=administrator,
            code="windco",
            name="Inner Mongolia Wind Power Co.",
            kind=Organisation.Kind.PROJECT_OWNER,
        )
        steelco = organisation_create(
            actor=administrator,
            code="steelco",
            name="Hebei Green Steel Co.",
            kind=Organisation.Kind.TRADER,
        )
        for code in ("GEC", "IREC", "TIGR"):
            Mechanism.objects.get(code=code).issuing_bodies.add(gec_centre)
        for code in ("CCER", "VCU"):
            Mechanism.objects.get(code=code).issuing_bodies.add(carbon_registry)
        gec_officer = _user("gec-officer", gec_centre, User.Role.ISSUER)
        ccer_officer = _user("ccer-officer", carbon_registry, User.Role.ISSUER)
        owner = _user("windco-owner", windco, User.Role.PROJECT_OWNER)
        steel_buyer = _user("steelco-trader", steelco, User.Role.HOLDER)
        _user(
            "auditor",
            organisation_create(
                actor=administrator,
                code="audit-firm",
                name="Independent Audit LLP",
                kind=Organisation.Kind.AUDITOR,
            ),
            User.Role.AUDITOR,
        )

        windco_account = holding_account_open(
            actor=administrator, organisation=windco, name="WindCo certificates"
        )
        steel_account = holding_account_open(
            actor=administrator, organisation=steelco, name="SteelCo green power"
        )

        wind = project_register(
            actor=administrator,
            owner=windco,
            name="Bayannur wind farm",
            province="CN-NM",
            technology="wind",
            capacity_mw=Decimal("200"),
            grid_region="North China",
            commissioning_date=dt.date(2021, 12, 1),
            national_code=DEMO_WIND_NATIONAL_CODE,
            latitude=Decimal("40.752300"),
            longitude=Decimal("107.387600"),
            meters=[{"meter_id": "NM-BYN-M0001", "valid_from": dt.date(2021, 12, 1)}],
            identifiers={"GEC": "GEC-NM-0001"},
        )
        solar = project_register(
            actor=administrator,
            owner=windco,
            name="Golmud solar park",
            province="CN-QH",
            technology="solar",
            capacity_mw=Decimal("100"),
            grid_region="Northwest China",
            commissioning_date=dt.date(2022, 6, 30),
            national_code="630801S2022063001",
            latitude=Decimal("36.402100"),
            longitude=Decimal("94.903400"),
            meters=[{"meter_id": "QH-GLM-M0001", "valid_from": dt.date(2022, 6, 30)}],
        )
        project_register(
            actor=administrator,
            owner=windco,
            name="Ningbo boiler retrofit",
            province="CN-ZJ",
            technology="energy_saving",
            national_code="330200E2023000001",
            latitude=Decimal("29.868300"),
            longitude=Decimal("121.544000"),
        )

        wind_records = [
            production_record_create(
                actor=gec_officer,
                project=wind,
                unit_kind="E",
                period_start=start,
                period_end=end,
                quantity=quantity,
            )
            for (start, end), quantity in (
                (_month(2025, 1), Decimal("48210.375")),
                (_month(2025, 2), Decimal("45877.250")),
                (_month(2025, 3), Decimal("51002.800")),
            )
        ]
        for record in wind_records:
            unit_claim_issue(
                actor=gec_officer,
                mechanism="GEC",
                production_record=record,
                account=windco_account,
                quantity=record.units,
            )
        block_transfer(
            actor=owner,
            source_account=windco_account,
            target_account=steel_account,
            mechanism="GEC",
            quantity=30000,
        )
        block_retire(
            actor=steel_buyer,
            account=steel_account,
            mechanism="GEC",
            quantity=20000,
            beneficiary_name="Hebei Green Steel Co.",
            purpose="scope2_electricity",
            claim_period_start=dt.date(2025, 1, 1),
            claim_period_end=dt.date(2025, 3, 31),
            location="CN-HE",
            reporting_year=2025,
        )

        start, end = _month(2025, 3)
        solar_record = production_record_create(
            actor=gec_officer,
            project=solar,
            unit_kind="E",
            period_start=start,
            period_end=end,
            quantity=Decimal("20500.6"),
        )
        declaration_sign(
            actor=owner, project=solar, unit_kind="E", period_start=start, period_end=end
        )
        unit_claim_issue(
            actor=ccer_officer,
            mechanism="CCER",
            production_record=solar_record,
            account=windco_account,
            quantity=solar_record.units,
            conversion_factor=Decimal("0.6565"),
            conversion_source="Northwest grid combined margin, 2025",
        )
        # The queues an administrator finds on the admin index: the owner's April figures for
        # the solar farm wait for verification, and its request for GECs on the March MWh
        # (already CCER) waits for approval, which will be refused naming the CCER claim.
        april_start, april_end = _month(2025, 4)
        production_submit(
            actor=owner,
            project=solar,
            unit_kind="E",
            period_start=april_start,
            period_end=april_end,
            quantity=Decimal("19870.4"),
            evidence="Grid company settlement statement, April 2025",
        )
        issuance_request_create(
            actor=owner,
            mechanism="GEC",
            production_record=solar_record,
            account=windco_account,
            quantity=500,
        )
        return gec_officer, windco_account, solar_record
