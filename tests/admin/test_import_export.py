"""Admin import and export: imports go through the services (same validation and ledger events,
the administrator as actor), a file with one refused row writes nothing and names the field,
and the ledger, claims and blocks are exported only."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape
from openpyxl import load_workbook

from accounts.models import Organisation
from registry.models import GridRegion, GridRegionProvince, LedgerEvent, Mechanism, Project
from registry.services import grid_region_create
from tracking.models import Block

CSV_FORMAT = "0"  # the admin offers CSV, then XLSX
XLSX_FORMAT = "1"


def _preview(client, model: str, text: str):
    """POST the import form (the dry run); the preview page comes back."""
    upload = SimpleUploadedFile(f"{model}.csv", text.encode("utf-8"), content_type="text/csv")
    return client.post(
        reverse(f"admin:{model}_import"),
        {"resource": "0", "format": CSV_FORMAT, "import_file": upload},
    )


def _import(client, model: str, text: str):
    """Preview then confirm an import; returns the confirmation's response."""
    preview = _preview(client, model, text)
    assert preview.status_code == 200
    confirm_form = preview.context.get("confirm_form")
    assert confirm_form is not None, preview.context["result"].invalid_rows
    return client.post(
        reverse(f"admin:{model}_process_import"),
        {name: confirm_form.initial[name] for name in confirm_form.fields},
        follow=True,
    )


def _row_errors(preview) -> dict[str, list[str]]:
    """Field -> messages of the preview's refused rows."""
    result = preview.context["result"]
    errors: dict[str, list[str]] = {}
    for row in result.invalid_rows:
        for field, messages in row.field_specific_errors.items():
            errors.setdefault(field, []).extend(str(message) for message in messages)
    return errors


def _export(client, model: str, resource_class, file_format: str):
    data = {"resource": "0", "format": file_format}
    for field in resource_class().get_export_order():
        data[f"{resource_class.__name__.lower()}_{field}"] = "on"
    return client.post(reverse(f"admin:{model}_export"), data)


def test_organisations_imported_through_the_service_with_the_administrator_as_actor(
    admin_client, administrator
):
    done = _import(
        admin_client,
        "accounts_organisation",
        "code,name,kind,country\n"
        "sun-co,Sun Co,project_owner,CN\n"
        "green-trade,Green Trade,trader,CN\n",
    )

    assert done.status_code == 200
    assert set(Organisation.objects.values_list("code", flat=True)) >= {"sun-co", "green-trade"}
    events = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ORGANISATION_CREATED)
    assert sorted(event.payload["organisation"] for event in events) == ["green-trade", "sun-co"]
    assert {event.actor_id for event in events} == {administrator.pk}


def test_projects_imported_are_registered_approved_with_their_streams(
    admin_client, administrator, project_owner
):
    _import(
        admin_client,
        "registry_project",
        "name,owner,province,technology,capacity_mw,commissioning_date,time_zone,"
        "national_code,latitude,longitude,meters,identifiers\n"
        "Hill wind,windco,CN-NM,wind,50,2024-05-01,Asia/Shanghai,"
        'nm-hill-01,41.1,108.2,"M-1@2024-05-01/2030-01-01, M-2@2024-05-01","GEC:G-1, IREC:D-1"\n'
        "Lake solar,windco,CN-QH,solar,20.5,2023-01-01,Asia/Shanghai,,,,,\n",
    )

    projects = Project.objects.filter(owner__code="windco").order_by("name")
    assert [(p.name, p.province, p.capacity_mw) for p in projects] == [
        ("Hill wind", "CN-NM", Decimal("50.000")),
        ("Lake solar", "CN-QH", Decimal("20.500")),
    ]
    assert {p.status for p in projects} == {Project.Status.APPROVED}
    assert all(p.code.startswith("P") and p.streams.count() == 3 for p in projects)
    events = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.PROJECT_REGISTERED)
    assert events.count() == 2 and {event.actor_id for event in events} == {administrator.pk}
    hill = projects[0]
    assert (hill.national_code, hill.latitude) == ("NM-HILL-01", Decimal("41.100000"))
    assert sorted(hill.meters.values_list("meter_id", "valid_to")) == [
        ("M-1", dt.date(2030, 1, 1)),
        ("M-2", None),
    ]
    assert dict(hill.identifiers.values_list("registry", "identifier")) == {
        "GEC": "G-1",
        "IREC": "D-1",
    }


def test_grid_regions_imported_then_changed_by_a_second_import(admin_client, administrator):
    _import(
        admin_client,
        "registry_gridregion",
        "code,name,name_zh,provinces\n"
        'north,North China grid,华北电网,"CN-BJ, CN-TJ, CN-HE"\n'
        "east,East China grid,华东电网,CN-SH|CN-JS\n",
    )
    north = GridRegion.objects.get(code="north")
    assert north.name_zh == "华北电网"
    assert north.province_codes() == ["CN-BJ", "CN-HE", "CN-TJ"]
    assert GridRegion.objects.get(code="east").province_codes() == ["CN-JS", "CN-SH"]
    created = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.GRID_REGION_CREATED)
    assert created.count() == 2 and {event.actor_id for event in created} == {administrator.pk}

    _import(
        admin_client,
        "registry_gridregion",
        "code,name,name_zh,provinces\n"
        'north,North China grid,华北电网,"CN-BJ, CN-TJ, CN-HE, CN-SD"\n'
        "east,East China grid,华东电网,CN-SH|CN-JS\n",
    )

    assert north.province_codes() == ["CN-BJ", "CN-HE", "CN-SD", "CN-TJ"]
    updated = LedgerEvent.objects.get(kind=LedgerEvent.Kind.GRID_REGION_UPDATED)
    assert updated.actor_id == administrator.pk
    assert updated.payload["to"] == {"provinces": ["CN-BJ", "CN-HE", "CN-SD", "CN-TJ"]}


@pytest.mark.parametrize(
    ("model", "text", "field"),
    [
        (
            "registry_gridregion",
            "code,name,provinces\nnorth,North,CN-BJ\nsouth,South,CN-XX\n",
            "provinces",
        ),
        (
            "registry_gridregion",
            "code,name,provinces\nnorth,North,CN-BJ|CN-TJ\ncentral,Central,CN-HB|CN-TJ\n",
            "provinces",
        ),
        (
            "registry_project",
            "name,owner,province,technology,capacity_mw\n"
            "Good wind,windco,CN-NM,wind,10\n"
            "Bad wind,windco,CN-NM,wind,-5\n",
            "capacity_mw",
        ),
        (
            "registry_project",
            "name,owner,province,technology\nNo owner,nobody-co,CN-NM,wind\n",
            "owner",
        ),
        (
            "registry_project",
            "name,owner,province,technology,capacity_mw,commissioning_date,national_code\n"
            "Hill wind,windco,CN-NM,wind,10,2024-01-01,NM-1\n"
            "Hill wind again,windco,CN-GS,wind,30,2024-01-01, nm-1\n",
            "national_code",
        ),
        (
            "accounts_organisation",
            "code,name,kind\nnew-co,New Co,project_owner\nodd-co,Odd Co,alien\n",
            "kind",
        ),
    ],
    ids=[
        "unknown-province",
        "province-in-two-regions",
        "negative-capacity",
        "unknown-owner",
        "national-code-held-by-the-row-before",
        "unknown-kind",
    ],
)
def test_a_file_with_one_refused_row_writes_nothing_and_names_the_field(
    admin_client, project_owner, model, text, field
):
    counts_before = (
        Organisation.objects.count(),
        Project.objects.count(),
        GridRegion.objects.count(),
        LedgerEvent.objects.count(),
    )

    preview = _preview(admin_client, model, text)

    assert preview.status_code == 200
    assert preview.context.get("confirm_form") is None
    errors = _row_errors(preview)
    assert field in errors and errors[field][0]
    assert escape(errors[field][0]) in preview.content.decode()
    assert counts_before == (
        Organisation.objects.count(),
        Project.objects.count(),
        GridRegion.objects.count(),
        LedgerEvent.objects.count(),
    )


def test_a_confirmed_import_refused_after_the_preview_is_rolled_back_whole(
    admin_client, administrator
):
    text = "code,name,provinces\nnorth,North,CN-BJ\nsouth,South,CN-GD\n"
    preview = _preview(admin_client, "registry_gridregion", text)
    confirm_form = preview.context.get("confirm_form")
    # Between preview and confirmation someone else puts Guangdong in another region.
    grid_region_create(actor=administrator, code="china-south", name="CSG", provinces=["CN-GD"])
    events_before = LedgerEvent.objects.count()

    admin_client.post(
        reverse("admin:registry_gridregion_process_import"),
        {name: confirm_form.initial[name] for name in confirm_form.fields},
    )

    assert not GridRegion.objects.filter(code__in=["north", "south"]).exists()
    assert LedgerEvent.objects.count() == events_before


def test_an_existing_organisation_changed_in_the_file_is_refused_and_an_unchanged_one_skipped(
    admin_client, project_owner
):
    unchanged = _import(
        admin_client,
        "accounts_organisation",
        "code,name,kind,country\nwindco,Wind Co,project_owner,CN\n",
    )
    assert unchanged.status_code == 200

    preview = _preview(
        admin_client, "accounts_organisation", "code,name,kind\nwindco,Renamed Co,project_owner\n"
    )

    assert "code" in _row_errors(preview)
    assert Organisation.objects.get(code="windco").name == "Wind Co"


def test_mechanisms_imported_through_mechanism_create(admin_client, administrator, issuer):
    _import(
        admin_client,
        "registry_mechanism",
        "code,name,unit_kind,kind,validity_months,max_transfers,issuing_bodies\n"
        "PILOT,Pilot credit,C,certificate,24,,gec-centre\n",
    )

    pilot = Mechanism.objects.get(code="PILOT")
    assert pilot.validity_months == 24 and pilot.max_transfers is None
    assert [body.code for body in pilot.issuing_bodies.all()] == ["gec-centre"]
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.MECHANISM_CREATED)
    assert event.actor_id == administrator.pk and event.payload["mechanism"] == "PILOT"


def test_only_staff_administrators_may_import_or_export(client, auditor, project_owner):
    auditor.is_staff = True
    auditor.save()
    client.force_login(auditor)

    assert client.get(reverse("admin:accounts_organisation_import")).status_code == 403
    assert client.get(reverse("admin:tracking_block_export")).status_code == 403


def test_blocks_export_as_xlsx_with_codes_and_no_import(admin_client, gec_claim):
    from tracking.imports import BlockResource

    response = _export(admin_client, "tracking_block", BlockResource, XLSX_FORMAT)

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header, first = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert "serial_to_exclusive" in header
    block = Block.objects.select_related("account").get(claim=gec_claim)
    assert first["mechanism"] == "GEC"
    assert first["account"] == block.account.number
    assert first["quantity"] == block.quantity
    with pytest.raises(NoReverseMatch):
        reverse("admin:tracking_block_import")
    changelist = admin_client.get(reverse("admin:tracking_block_changelist")).content.decode()
    assert reverse("admin:tracking_block_export") in changelist
    assert "/import/" not in changelist


def test_ledger_export_as_xlsx_names_the_actor(admin_client, administrator, gec_claim):
    from registry.imports import LedgerEventResource

    response = _export(admin_client, "registry_ledgerevent", LedgerEventResource, XLSX_FORMAT)

    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    exported = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(exported) == LedgerEvent.objects.count()
    issued = [row for row in exported if row["kind"] == LedgerEvent.Kind.UNITS_ISSUED]
    assert issued and issued[0]["actor"] == "issuer"


def test_the_database_refuses_a_province_in_two_grid_regions(db):
    north = GridRegion.objects.create(code="north", name="North")
    central = GridRegion.objects.create(code="central", name="Central")
    GridRegionProvince.objects.create(grid_region=north, province="CN-HE")

    with pytest.raises(IntegrityError), transaction.atomic():
        GridRegionProvince.objects.create(grid_region=central, province="CN-HE")


def test_ledger_export_joins_the_actors_instead_of_a_query_per_event(
    admin_client, administrator, gec_claim
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from registry.imports import LedgerEventResource

    assert LedgerEvent.objects.exclude(actor=None).count() >= 3
    with CaptureQueriesContext(connection) as queries:
        response = _export(admin_client, "registry_ledgerevent", LedgerEventResource, CSV_FORMAT)

    assert response.status_code == 200
    user_lookups = [q["sql"] for q in queries if 'FROM "accounts_user"' in q["sql"]]
    # One: the session's user. The export reads actors in its own joined query.
    assert len(user_lookups) <= 1, user_lookups


def test_grid_region_admin_form_creates_through_the_service_and_refuses_a_taken_province(
    admin_client, administrator
):
    add = reverse("admin:registry_gridregion_add")
    admin_client.post(add, {"code": "north", "name": "North", "provinces": "CN-BJ, CN-TJ"})
    assert GridRegion.objects.get(code="north").province_codes() == ["CN-BJ", "CN-TJ"]
    assert LedgerEvent.objects.get(kind=LedgerEvent.Kind.GRID_REGION_CREATED).actor_id == (
        administrator.pk
    )

    refused = admin_client.post(add, {"code": "central", "name": "Central", "provinces": "CN-TJ"})

    assert refused.status_code == 200 and "provinces" in refused.context["adminform"].form.errors
    assert not GridRegion.objects.filter(code="central").exists()
