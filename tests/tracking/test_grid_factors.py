"""Grid data imported from CSV and the factors computed from it and from the registry's own
retirements: the residual factor moves as certificates are retired for the region and period,
and only then."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest

from registry.errors import Conflict, DomainError, Forbidden
from registry.ledger import seal
from registry.models import Checkpoint, LedgerEvent
from registry.services import grid_region_create
from tests.conftest import RETIREMENT_DEFAULTS
from tracking.accounting.models import GridExchange, GridFactor, GridGeneration
from tracking.accounting.services import grid_data_import, grid_factors_compute
from tracking.services import block_retire

D = Decimal

# The emission-accounting example of docs/domain.md in the north (100 MWh renewable, 400 MWh
# fossil, 360 t), and an east grid of its own.
GENERATION = """region,period,source,generation_mwh,emissions_t
north,2025-03,coal,400,360
north,2025-03,wind,100,0
east,2025-03,coal,800,640
east,2025-03,solar,200,0
"""


@pytest.fixture
def regions(administrator):
    return {
        "north": grid_region_create(
            actor=administrator, code="north", name="North China", provinces=["CN-HE", "CN-BJ"]
        ),
        "east": grid_region_create(
            actor=administrator, code="east", name="East China", provinces=["CN-SH", "CN-JS"]
        ),
    }


@pytest.fixture
def grid_data(administrator, regions):
    return grid_data_import(actor=administrator, kind="generation", content=GENERATION)


def factors(administrator, year=2025, month=3, **options) -> dict[str, GridFactor]:
    computation = grid_factors_compute(actor=administrator, year=year, month=month, **options)
    return {factor.region.code: factor for factor in computation.factors.select_related("region")}


def retire(project_owner, owner_account, quantity, **changes):
    return block_retire(
        actor=project_owner,
        account=owner_account,
        mechanism="GEC",
        quantity=quantity,
        **{**RETIREMENT_DEFAULTS, **changes},
    )


def test_the_import_is_one_ledger_event_naming_the_file(grid_data, administrator):
    assert grid_data.rows == 4 and grid_data.periods == ["2025-03"]
    assert GridGeneration.objects.count() == 4
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.GRID_DATA_IMPORTED)
    assert event.actor == administrator
    assert event.payload["content_sha256"] == grid_data.content_sha256


def test_without_retirements_the_residual_factor_is_the_average(grid_data, administrator):
    computed = factors(administrator)
    assert computed["north"].average_factor == D("0.72")
    assert computed["north"].residual_factor == D("0.72")
    assert computed["east"].average_factor == D("0.64")
    assert computed["north"].double_counted_t == 0


def test_retiring_certificates_for_the_region_moves_its_residual_factor(
    grid_data, administrator, project_owner, owner_account, gec_claim
):
    before = factors(administrator)["north"]
    retire(project_owner, owner_account, 100)  # for consumption in CN-HE, March 2025

    after = factors(administrator)
    north = after["north"]

    assert (before.residual_factor, north.residual_factor) == (D("0.72"), D("0.9"))
    assert north.retired_mwh == 100 and north.claimed_mwh == 100
    assert north.double_counted_t == D(72)  # 100 MWh x 0.72
    assert after["east"].residual_factor == D("0.64")  # another region: unchanged


@pytest.mark.parametrize(
    "changes",
    [
        {"location": "CN-SH"},  # retired for the east
        {"claim_period_start": dt.date(2025, 5, 1), "claim_period_end": dt.date(2025, 5, 31)},
        {"location": "CN-GD"},  # a province in no grid region here
    ],
    ids=["other-region", "other-period", "no-region"],
)
def test_a_retirement_for_another_region_or_period_leaves_the_north_alone(
    grid_data, administrator, project_owner, owner_account, gec_claim, changes
):
    retire(project_owner, owner_account, 100, **changes)
    assert factors(administrator)["north"].residual_factor == D("0.72")


def test_a_claim_period_reaching_beyond_the_month_counts_by_days(
    grid_data, administrator, project_owner, owner_account, gec_claim
):
    # 61 MWh for 1 March to 30 April: 31 days of them fall in March.
    retire(
        project_owner,
        owner_account,
        61,
        claim_period_start=dt.date(2025, 3, 1),
        claim_period_end=dt.date(2025, 4, 30),
    )
    north = factors(administrator)["north"]
    assert north.retired_mwh == D(31)
    assert north.residual_factor == (D(360) / D(469)).quantize(D("0.000000001"))


def test_a_policy_counting_valid_certificates_removes_unretired_issuance_of_the_region(
    grid_data, administrator, gec_claim, regions
):
    # The wind farm lies in CN-NM: put it in the north to see its 1,000 valid GECs of March.
    from registry.models import GridRegionProvince

    GridRegionProvince.objects.create(grid_region=regions["north"], province="CN-NM")
    counted = factors(administrator, policy=["retired", "exported", "valid"])["north"]
    ignored = factors(administrator, policy=["retired", "exported"])["north"]
    assert counted.valid_mwh == 1000 and counted.claimed_mwh == 1000
    assert counted.residual_factor is None  # 1,000 claimed of a 500 MWh supply: none left
    assert ignored.claimed_mwh == 0 and ignored.residual_factor == D("0.72")


def test_exchanges_both_ways_are_solved_together(administrator, regions):
    grid_data_import(
        actor=administrator,
        kind="generation",
        content="region,period,source,generation_mwh,emissions_t\n"
        "north,2025,coal,1000,800\neast,2025,hydro,500,100\n",
    )
    grid_data_import(
        actor=administrator,
        kind="exchanges",
        content="period,from_region,to_region,mwh\n2025,east,north,100\n2025,north,east,50\n",
    )
    computed = factors(administrator, month=None)
    # 1100·EF_n − 100·EF_e = 800 and 550·EF_e − 50·EF_n = 100: EF_n = 0.75, EF_e = 0.25
    assert computed["north"].average_factor == D("0.75")
    assert computed["east"].average_factor == D("0.25")
    assert computed["north"].imports_mwh == 100


def test_a_computation_names_the_checkpoint_and_last_event_it_saw(grid_data, administrator):
    computation = grid_factors_compute(actor=administrator, year=2025, month=3)
    assert computation.last_event_id == LedgerEvent.objects.order_by("-id").first().pk
    assert computation.checkpoint == Checkpoint.objects.order_by("-sequence").first()
    assert computation.policy == ["exported", "retired"]


@pytest.mark.parametrize(
    ("content", "column"),
    [
        ("region,period,source,generation_mwh,emissions_t\nsouth,2025-03,coal,1,1\n", "region"),
        ("region,period,source,generation_mwh,emissions_t\nnorth,2025-13,coal,1,1\n", "period"),
        (
            "region,period,source,generation_mwh,emissions_t\nnorth,2025-03,coal,-1,1\n",
            "generation_mwh",
        ),
        (
            "region,period,source,generation_mwh,emissions_t\nnorth,2025-03,coal,1,lots\n",
            "emissions_t",
        ),
        (
            "region,period,source,generation_mwh,emissions_t\n"
            "north,2025-03,coal,1,1\nnorth,2025-03,coal,2,2\n",
            "source",
        ),
        ("region,period,generation_mwh\nnorth,2025-03,1\n", "file"),
    ],
    ids=["unknown-region", "bad-month", "negative", "not-a-number", "repeated", "columns"],
)
def test_a_bad_file_writes_nothing_and_names_the_column(administrator, regions, content, column):
    with pytest.raises(DomainError) as refusal:
        grid_data_import(actor=administrator, kind="generation", content=content)
    assert refusal.value.field == column
    assert not GridGeneration.objects.exists()
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.GRID_DATA_IMPORTED).exists()


def test_an_exchange_with_a_region_without_data_gives_no_factor(grid_data, administrator, regions):
    grid_grid = grid_region_create(
        actor=administrator, code="south", name="South", provinces=["CN-GD"]
    )
    GridExchange.objects.create(
        year=2025,
        month=3,
        exporter=grid_grid,
        importer=regions["north"],
        mwh=5,
        imported_by=administrator,
    )
    with pytest.raises(DomainError) as refusal:
        grid_factors_compute(actor=administrator, year=2025, month=3)
    assert refusal.value.code == "invalid_grid_data" and refusal.value.field == "exporter"


def test_only_administrators_import_or_compute(grid_data, issuer, administrator):
    with pytest.raises(Forbidden):
        grid_data_import(actor=issuer, kind="generation", content=GENERATION)
    with pytest.raises(Forbidden):
        grid_factors_compute(actor=issuer, year=2025, month=3)
    with pytest.raises(Conflict):
        grid_factors_compute(actor=administrator, year=2024, month=3)


def test_a_reimport_replaces_the_period_of_the_region(grid_data, administrator):
    grid_data_import(
        actor=administrator,
        kind="generation",
        content="region,period,source,generation_mwh,emissions_t\nnorth,2025-03,coal,500,400\n",
    )
    assert set(
        GridGeneration.objects.filter(region__code="north").values_list("source", flat=True)
    ) == {"coal"}
    assert GridGeneration.objects.filter(region__code="east").count() == 2
    assert factors(administrator)["north"].average_factor == D("0.8")


def test_sealed_or_not_the_published_factors_are_the_newest(grid_data, administrator):
    from tracking.accounting.selectors import published_factors

    grid_factors_compute(actor=administrator, year=2025, month=3)
    seal()
    newest = grid_factors_compute(actor=administrator, year=2025, month=3)
    assert {factor.computation_id for factor in published_factors()} == {newest.pk}


@pytest.mark.django_db(transaction=True)
def test_the_periodic_task_recomputes_every_period_with_grid_data(administrator, regions):
    """Outside any transaction (as in the worker) the computation takes its own snapshot."""
    from tracking.accounting.models import FactorComputation
    from tracking.tasks import grid_factors_recompute_task

    grid_data_import(actor=administrator, kind="generation", content=GENERATION)
    grid_data_import(
        actor=administrator,
        kind="generation",
        content="region,period,source,generation_mwh,emissions_t\nnorth,2024,coal,10,9\n",
    )
    assert grid_factors_recompute_task() == 2
    periods = set(FactorComputation.objects.values_list("year", "month"))
    assert periods == {(2025, 3), (2024, None)}
    assert all(c.requested_by is None for c in FactorComputation.objects.all())


def test_the_commands_import_and_compute(tmp_path, administrator, regions):
    from django.core.management import CommandError, call_command

    data = tmp_path / "generation.csv"
    data.write_text(GENERATION, encoding="utf-8")
    output = io.StringIO()
    call_command(
        "import_grid_data", "generation", str(data), user=administrator.username, stdout=output
    )
    assert "4 generation rows for 2025-03" in output.getvalue()
    printed = io.StringIO()
    call_command("compute_grid_factors", "2025-03", user=administrator.username, stdout=printed)
    assert "north\taverage 0.720000000\tresidual 0.720000000" in printed.getvalue()

    data.write_text("region,period,source,generation_mwh,emissions_t\nnorth,2025-03,coal,x,1\n")
    with pytest.raises(CommandError, match="generation_mwh"):
        call_command("import_grid_data", "generation", str(data), user=administrator.username)
    with pytest.raises(CommandError, match="period"):
        call_command("compute_grid_factors", "2031", user=administrator.username)


def test_a_refusal_names_the_operation_in_the_reader_s_language(issuer):
    """Messages are made in the language active when the refusal is raised (the request's)."""
    from django.utils import translation

    for language, expected in (
        ("zh-hans", "仅登记簿管理员可执行此操作：创建电网区域。"),
        ("en", "Only a registry administrator may create grid regions."),
    ):
        with translation.override(language), pytest.raises(Forbidden) as refusal:
            grid_region_create(actor=issuer, code="west", name="West", provinces=["CN-XZ"])
        assert str(refusal.value.message) == expected
