"""Grid factors over REST: published to anyone, recomputed on demand by administrators."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from registry.services import grid_region_create
from tests.api.conftest import client_for
from tests.conftest import RETIREMENT_DEFAULTS
from tests.tracking.test_grid_factors import GENERATION
from tracking.accounting.services import grid_data_import, grid_factors_compute
from tracking.services import block_retire

URL = "/api/v1/grid-factors/"


@pytest.fixture
def computed(administrator):
    grid_region_create(actor=administrator, code="north", name="North", provinces=["CN-HE"])
    grid_region_create(actor=administrator, code="east", name="East", provinces=["CN-SH"])
    grid_data_import(actor=administrator, kind="generation", content=GENERATION)
    return grid_factors_compute(actor=administrator, year=2025, month=3)


def test_anyone_reads_the_published_factors_with_their_checkpoint(computed):
    response = APIClient().get(URL)
    assert response.status_code == 200
    rows = {row["region"]: row for row in response.json()}
    assert Decimal(rows["north"]["average_factor"]) == Decimal("0.72")
    assert rows["north"]["period"] == "2025-03"
    assert rows["north"]["computation"] == computed.pk
    assert rows["north"]["last_event_id"] == computed.last_event_id
    assert "checkpoint" in rows["north"]


def test_the_list_filters_by_region_and_period(computed):
    client = APIClient()
    assert [row["region"] for row in client.get(URL, {"region": "east"}).json()] == ["east"]
    assert client.get(URL, {"period": "2024"}).json() == []
    refused = client.get(URL, {"period": "March"})
    assert refused.status_code == 400 and "period" in refused.json()["errors"]


def test_an_administrator_recomputes_after_a_retirement(
    computed, administrator, project_owner, owner_account, gec_claim
):
    block_retire(
        actor=project_owner,
        account=owner_account,
        mechanism="GEC",
        quantity=100,
        **RETIREMENT_DEFAULTS,
    )
    response = client_for(administrator).post(f"{URL}compute/", {"period": "2025-03"})
    assert response.status_code == 201
    north = next(row for row in response.json() if row["region"] == "north")
    assert Decimal(north["residual_factor"]) == Decimal("0.9")
    assert Decimal(north["double_counted_t"]) == Decimal(72)
    published = {row["region"]: row for row in APIClient().get(URL).json()}
    assert Decimal(published["north"]["residual_factor"]) == Decimal("0.9")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"period": "2031-02"}, 409, "no_grid_data"),
        ({"period": "soon"}, 400, "invalid_period"),
        ({}, 400, None),
    ],
)
def test_a_computation_of_a_bad_period_is_refused(computed, administrator, body, status, code):
    response = client_for(administrator).post(f"{URL}compute/", body)
    assert response.status_code == status
    problem = response.json()
    if status == 400:
        assert "period" in problem["errors"]
    if code:
        assert code in (problem["code"], problem.get("reason"))


def test_the_public_page_shows_every_factor_with_its_formula(client, computed):
    page = client.get("/public/grid-factors/").content.decode()
    assert 'data-region="north"' in page
    assert '<td class="number average">0.720000000</td>' in page
    assert "EF_i = (E_i + Σ_j EF_j × Imp_ji) / (G_i + Σ_j Imp_ji)" in page
    assert "RF = EF × S / (S − C)" in page
    chinese = client.get("/public/grid-factors/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert chinese.status_code == 200
