"""Cancellations carry the serial ranges they took out of circulation, in the API and in the
public verification of a unit."""

from __future__ import annotations


def test_a_cancellation_carries_its_serial_ranges_in_the_api_and_the_public_verification(
    gec_claim, project_owner, owner_account, wind_farm
):
    from tests.api.conftest import client_for

    code = wind_farm.code
    response = client_for(project_owner).post(
        "/api/v1/cancellations/",
        {
            "account": owner_account.number,
            "mechanism": "GEC",
            "serial_range": f"CN-{code}-E-202503-000000000011-000000000020",
            "reason": "metering error",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    cancelled = [f"CN-{code}-E-202503-000000000011-000000000020"]
    assert response.data["serial_ranges"] == cancelled
    listed = client_for(project_owner).get("/api/v1/cancellations/").json()["results"]
    assert listed[0]["serial_ranges"] == cancelled
    from registry.serials import Serial

    verified = client_for(None).get(f"/api/v1/verify/{Serial('CN', code, 'E', 202503, 15)}/")
    body = verified.json()
    assert body["status"] == "cancelled"
    [entry] = body["cancellations"]
    assert entry["serial_ranges"] == cancelled and entry["quantity"] == 10


def test_the_list_of_cancellations_reads_their_ranges_in_a_fixed_number_of_queries(
    gec_claim, project_owner, owner_account, wind_farm
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.api.conftest import client_for

    client = client_for(project_owner)

    def cancel(first: int) -> None:
        serials = f"CN-{wind_farm.code}-E-202503-{first:012d}-{first + 9:012d}"
        response = client.post(
            "/api/v1/cancellations/",
            {
                "account": owner_account.number,
                "mechanism": "GEC",
                "serial_range": serials,
                "reason": "metering error",
            },
            format="json",
        )
        assert response.status_code == 201, response.content

    def queries_of_the_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/cancellations/").status_code == 200
        return len(captured)

    cancel(1)
    with_one = queries_of_the_list()
    for first in (101, 201, 301, 401):
        cancel(first)
    assert queries_of_the_list() == with_one
