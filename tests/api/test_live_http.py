"""Concurrency through HTTP against a live gunicorn: several worker processes, each with its own
database connections, receive the same issuance at once; the database lets exactly one through."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from knox.models import AuthToken

from registry.models import LedgerEvent, UnitClaim
from registry.serials import SerialRange
from registry.services import declaration_sign
from tests.api.live import LiveServer, live_gunicorn_fixture  # noqa: F401 - live_gunicorn
from tests.conftest import month

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

PARALLEL = 20


def post_at_once(server: LiveServer, requests: list[tuple[str, dict]]) -> list:
    """POST every (token, body) to /api/v1/issuances/ from its own thread, released together."""
    barrier = threading.Barrier(len(requests))
    responses: list = [None] * len(requests)

    def send(index: int, token: str, body: dict) -> None:
        try:
            barrier.wait(timeout=30)
            responses[index] = server.request("POST", "/api/v1/issuances/", token=token, body=body)
        except Exception as error:  # noqa: BLE001 - the test reports what went wrong
            responses[index] = error

    threads = [
        threading.Thread(target=send, args=(index, token, body))
        for index, (token, body) in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return responses


def test_twenty_parallel_http_issuances_of_the_same_units_exactly_one_201_the_rest_409(
    live_gunicorn,
    issuer,
    second_issuer,
    project_owner,
    wind_farm,
    march_record,
    owner_account,
):
    start, end = month(2025, 3)
    # CCER and VCU need the owner's declaration of no double counting for the period.
    declaration_sign(
        actor=project_owner, project=wind_farm, unit_kind="E", period_start=start, period_end=end
    )
    tokens = {user: AuthToken.objects.create(user=user)[1] for user in (issuer, second_issuer)}
    # All 1,000 MWh of the March record, by serial range.
    every_mwh = SerialRange(march_record.serials.lower, march_record.serials.upper).format(
        wind_farm.country, wind_farm.code, "E", march_record.vintage
    )
    common = {
        "production_record": march_record.pk,
        "account": owner_account.number,
        "serial_range": every_mwh,
    }
    kinds = [
        (issuer, {"mechanism": "GEC"}),
        (second_issuer, {"mechanism": "CCER", "conversion_factor": "0.6565"}),
        (second_issuer, {"mechanism": "VCU", "conversion_factor": "0.6565"}),
    ]
    requests = [
        (tokens[user], {**common, **extra})
        for user, extra in (kinds[index % len(kinds)] for index in range(PARALLEL))
    ]

    responses = post_at_once(live_gunicorn, requests)

    failures = [response for response in responses if not hasattr(response, "status")]
    assert not failures, failures
    statuses = Counter(response.status for response in responses)
    log = live_gunicorn.log_text()
    assert not [status for status in statuses if status >= 500], (statuses, log)
    assert statuses == {201: 1, 409: PARALLEL - 1}, (
        statuses,
        [response.body[:300] for response in responses],
    )
    assert "Traceback" not in log, log

    (winner,) = (response.json() for response in responses if response.status == 201)
    refusals = [response for response in responses if response.status == 409]
    for refusal in refusals:
        assert refusal.content_type == "application/problem+json"
        problem = refusal.json()
        assert problem["code"] == "double_claim", problem
        assert problem["status"] == 409
        assert problem["details"]["existing_claim"]["id"] == winner["id"], problem
        assert str(winner["id"]) in problem["detail"], problem

    # One live claim on those MWh: the winner itself (GEC) or the source claim of its tonnes.
    live = UnitClaim.objects.filter(stream_id=march_record.stream_id, status="live")
    assert live.count() == 1
    claim = live.get()
    assert (claim.serials.lower, claim.serials.upper) == (
        march_record.serials.lower,
        march_record.serials.upper,
    )
    winning_claim = UnitClaim.objects.get(pk=winner["id"])
    assert claim.pk in {winning_claim.pk, winning_claim.source_claim_id}
    assert winner["mechanism"] == winning_claim.mechanism.code
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).count() == PARALLEL - 1
