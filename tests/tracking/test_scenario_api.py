"""``POST /api/v1/accounting/scenarios/``: any authenticated user computes a scenario; refused
input answers 400 problem+json naming the field; nothing is written."""

from __future__ import annotations

import copy
import json

import pytest

from registry.models import LedgerEvent
from tests.tracking.test_scenario import THREE_REGIONS, WORKED_EXAMPLE

URL = "/api/v1/accounting/scenarios/"


@pytest.mark.parametrize("persona", ["buyer", "auditor", "outsider"])
def test_any_authenticated_user_gets_the_figures_with_exactly_three_keys(api, db, request, persona):
    events_before = LedgerEvent.objects.count()

    response = api(request.getfixturevalue(persona)).post(URL, WORKED_EXAMPLE, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"factors", "consumers", "regions"}
    assert body["factors"] == {"grid": 0.9, "combined": 0.9}
    assert body["consumers"]["buyer"]["scheme_4"] == {"emissions_t": 0.0, "green_reduction_t": 90.0}
    assert body["regions"]["grid"]["scheme_3_total_t"] == 360.0
    assert LedgerEvent.objects.count() == events_before  # a calculation, not a write


def test_three_regions_through_the_api(api, buyer):
    response = api(buyer).post(URL, THREE_REGIONS, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["factors"] == {"R1": 0.8, "R2": 0.4, "R3": 0.3, "combined": 0.42}
    assert body["consumers"]["R"]["scheme_3"]["emissions_t"] == pytest.approx(4050 / 67, 1e-12)
    assert body["consumers"]["R'"]["scheme_4"]["emissions_t"] == pytest.approx(3420 / 113, 1e-12)
    assert sum(region["scheme_2_total_t"] for region in body["regions"].values()) == (
        pytest.approx(210, 1e-12)
    )


def test_anonymous_callers_are_refused(api, db):
    assert api(None).post(URL, WORKED_EXAMPLE, format="json").status_code == 401


def _changed(change) -> dict:
    document = copy.deepcopy(THREE_REGIONS)
    change(document)
    return document


@pytest.mark.parametrize(
    ("document", "field", "words"),
    [
        pytest.param(
            _changed(lambda d: d["consumers"][0]["purchases"][2].update(mwh=-20)),
            "consumers[0].purchases[2].mwh",
            "negative",
            id="negative mwh",
        ),
        pytest.param(
            _changed(lambda d: d["consumers"][3]["certificates"][0].update(generator="S9")),
            "consumers[3].certificates[0].generator",
            "Unknown generator 'S9'",
            id="unknown generator",
        ),
        pytest.param(
            _changed(lambda d: d["consumers"][3]["certificates"][0].update(mwh=60.001)),
            "consumers[3].certificates[0].mwh",
            "exceed the 60 MWh",
            id="certificates above purchases",
        ),
        pytest.param(
            _changed(lambda d: d["generators"][2].update(emission_factor="0.6")),
            "generators[2].emission_factor",
            "JSON number",
            id="factor not a number",
        ),
        pytest.param(["not", "an", "object"], "non_field_errors", "JSON object", id="a list"),
    ],
)
def test_bad_input_answers_400_naming_the_field(api, buyer, document, field, words):
    response = api(buyer).post(URL, document, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert problem["reason"] == "invalid_scenario"
    assert list(problem["errors"]) == [field]
    assert words in problem["errors"][field][0]["message"]


def test_malformed_json_answers_400(api, buyer):
    response = api(buyer).post(
        URL, data=json.dumps(WORKED_EXAMPLE)[:-3], content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "JSON parse error" in response.json()["detail"]
