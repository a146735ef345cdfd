"""``Idempotency-Key`` on POST: a repeat answers the first response without acting again."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.conf import settings
from django.utils import timezone

from issuance.services import unit_claim_issue
from registry.api import idempotency
from registry.models import IdempotencyRecord, LedgerEvent, Project, UnitClaim
from registry.services import production_record_create
from registry.tasks import idempotency_purge_task
from tests.conftest import RETIREMENT_DEFAULTS, month
from tracking.models import Cancellation, Retirement, Transfer

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
TRANSFER = {
    "mechanism": "GEC",
    "source_account": "CN-00000001",
    "target_account": "CN-00000002",
    "quantity": 100,
}


@pytest.fixture
def gecs(issuer, march_record, owner_account, buyer_account):
    """1,000 GECs (serials 1..1000) in the owner's account CN-00000001."""
    return unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
    )


def transfer_events() -> int:
    return LedgerEvent.objects.filter(kind=LedgerEvent.Kind.UNITS_TRANSFERRED).count()


def post(client, path, body, key):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_repeated_transfer_with_the_same_key_transfers_once_and_replays_the_first_answer(
    api, project_owner, gecs
):
    client = api(project_owner)
    key = str(uuid.uuid4())
    first = post(client, "/api/v1/transfers/", TRANSFER, key)
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first

    second = post(client, "/api/v1/transfers/", TRANSFER, key)
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Transfer.objects.count() == 1
    assert transfer_events() == 1

    # The caller's other token shares the key: it is the caller's, not the token's.
    third = post(api(project_owner), "/api/v1/transfers/", TRANSFER, key)
    assert third.status_code == 201
    assert third.json() == first.json()
    assert third["Idempotent-Replayed"] == "true"
    assert Transfer.objects.count() == 1

    # The units moved once.
    account = client.get("/api/v1/accounts/CN-00000001/").json()
    assert account["balances"][0]["active"] == 900


def test_without_a_key_every_post_acts(api, project_owner, gecs):
    client = api(project_owner)
    assert client.post("/api/v1/transfers/", TRANSFER, format="json").status_code == 201
    assert client.post("/api/v1/transfers/", TRANSFER, format="json").status_code == 201
    assert Transfer.objects.count() == 2
    assert transfer_events() == 2


def test_the_same_key_with_a_different_body_is_refused_with_422_and_writes_nothing(
    api, project_owner, gecs
):
    client = api(project_owner)
    key = str(uuid.uuid4())
    assert post(client, "/api/v1/transfers/", TRANSFER, key).status_code == 201
    events_before = LedgerEvent.objects.count()

    reused = post(client, "/api/v1/transfers/", {**TRANSFER, "quantity": 7}, key)
    assert reused.status_code == 422, reused.content
    assert reused["Content-Type"] == PROBLEM
    assert reused.json()["code"] == "idempotency_key_reused"
    assert "Idempotent-Replayed" not in reused
    assert Transfer.objects.count() == 1
    assert LedgerEvent.objects.count() == events_before

    # The same key on another endpoint is a different request as well.
    elsewhere = post(
        client,
        "/api/v1/retirements/",
        {**RETIREMENT_DEFAULTS, "mechanism": "GEC", "account": "CN-00000001", "quantity": 1},
        key,
    )
    assert elsewhere.status_code == 422
    assert elsewhere.json()["code"] == "idempotency_key_reused"
    assert Retirement.objects.count() == 0
    assert LedgerEvent.objects.count() == events_before


def test_keys_belong_to_their_caller(api, administrator, project_owner, gecs):
    key = "shared-key-1"
    mine = post(api(project_owner), "/api/v1/transfers/", TRANSFER, key)
    assert mine.status_code == 201
    # Another caller's identical key and body is a request of its own: it acts.
    theirs = post(api(administrator), "/api/v1/transfers/", TRANSFER, key)
    assert theirs.status_code == 201, theirs.content
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["actor"] == "admin"
    # ... and with a different body it is not "reused" either.
    other = post(api(administrator), "/api/v1/transfers/", {**TRANSFER, "quantity": 5}, "k-2")
    assert other.status_code == 201
    assert Transfer.objects.count() == 3
    assert transfer_events() == 3


def test_a_refused_request_is_replayed_as_the_same_refusal(
    api, issuer, project_owner, gecs, march_record, owner_account
):
    client = api(project_owner)
    key = str(uuid.uuid4())
    body = {**TRANSFER, "quantity": 1500}
    refused = post(client, "/api/v1/transfers/", body, key)
    assert refused.status_code == 409, refused.content
    assert refused["Content-Type"] == PROBLEM
    assert refused.json()["code"] == "insufficient_units"
    assert refused.json()["details"] == {"available": 1000, "requested": 1500}

    # The owner now holds enough, but the key's answer stays the first one: nothing acts.
    start, end = month(2025, 4)
    april = production_of(issuer, march_record.stream.project, start, end)
    unit_claim_issue(
        actor=issuer, mechanism="GEC", production_record=april, account=owner_account, quantity=600
    )
    events_before = LedgerEvent.objects.count()
    replayed = post(client, "/api/v1/transfers/", body, key)
    assert replayed.status_code == 409
    assert replayed["Content-Type"] == PROBLEM
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json() == refused.json()
    assert Transfer.objects.count() == 0
    assert LedgerEvent.objects.count() == events_before

    # A new key acts on the new state.
    assert post(client, "/api/v1/transfers/", body, str(uuid.uuid4())).status_code == 201


def production_of(actor, project, start, end):
    return production_record_create(
        actor=actor,
        project=project,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=600,
    )


def test_an_invalid_request_is_replayed_as_the_same_400(api, project_owner, gecs):
    client = api(project_owner)
    body = {**TRANSFER, "quantity": -3}
    first = post(client, "/api/v1/transfers/", body, "bad-body")
    assert first.status_code == 400
    assert first.json()["code"] == "validation_error"
    second = post(client, "/api/v1/transfers/", body, "bad-body")
    assert second.status_code == 400
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()


def test_a_repeat_while_the_first_is_still_running_is_a_409_conflict(api, project_owner, gecs):
    client = api(project_owner)
    assert post(client, "/api/v1/transfers/", TRANSFER, "in-flight").status_code == 201
    # As if the first request had claimed the key and not finished yet.
    IdempotencyRecord.objects.filter(key="in-flight").update(status_code=None, response_body=None)
    busy = post(client, "/api/v1/transfers/", TRANSFER, "in-flight")
    assert busy.status_code == 409
    assert busy.json()["code"] == "conflict"
    assert Transfer.objects.count() == 1


@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "tab\there"])
def test_a_malformed_key_is_refused_with_400_and_nothing_acts(api, project_owner, gecs, key):
    response = post(api(project_owner), "/api/v1/transfers/", TRANSFER, key)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert "Idempotency-Key" in response.json()["errors"]
    assert Transfer.objects.count() == 0


def test_a_long_key_of_up_to_255_characters_is_accepted_on_transfers(api, project_owner, gecs):
    client = api(project_owner)
    key = "k" * 255
    first = post(client, "/api/v1/transfers/", TRANSFER, key)
    assert first.status_code == 201, first.content
    again = post(client, "/api/v1/transfers/", TRANSFER, key)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Transfer.objects.count() == 1


def test_records_older_than_their_lifetime_are_purged_by_purge_and_by_the_celery_task(
    api, project_owner, gecs
):
    assert settings.API_IDEMPOTENCY_HOURS >= 24
    client = api(project_owner)
    assert post(client, "/api/v1/transfers/", TRANSFER, "old-key").status_code == 201
    assert post(client, "/api/v1/transfers/", TRANSFER, "recent-key").status_code == 201
    lifetime = dt.timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
    now = timezone.now()
    IdempotencyRecord.objects.filter(key="old-key").update(
        created_at=now - lifetime - dt.timedelta(minutes=1)
    )
    IdempotencyRecord.objects.filter(key="recent-key").update(
        created_at=now - lifetime + dt.timedelta(minutes=5)
    )

    assert idempotency.purge() == 1
    assert set(IdempotencyRecord.objects.values_list("key", flat=True)) == {"recent-key"}
    # The Celery task runs the same purge.
    assert idempotency_purge_task.apply().get() == 0
    IdempotencyRecord.objects.filter(key="recent-key").update(created_at=now - 2 * lifetime)
    assert idempotency_purge_task.apply().get() == 1
    assert not IdempotencyRecord.objects.exists()


def expire(key: str, *, purge: bool) -> None:
    IdempotencyRecord.objects.filter(key=key).update(
        created_at=timezone.now() - dt.timedelta(hours=settings.API_IDEMPOTENCY_HOURS, minutes=1)
    )
    if purge:
        assert idempotency.purge() == 1


@pytest.mark.parametrize("purged", [True, False], ids=["purged", "expired-not-yet-purged"])
def test_an_expired_key_acts_anew_for_a_new_request(api, project_owner, gecs, purged):
    client = api(project_owner)
    first = post(client, "/api/v1/transfers/", TRANSFER, "expired-key")
    assert first.status_code == 201
    expire("expired-key", purge=purged)

    anew = post(client, "/api/v1/transfers/", {**TRANSFER, "quantity": 7}, "expired-key")
    assert anew.status_code == 201, anew.content
    assert "Idempotent-Replayed" not in anew
    assert anew.json()["quantity"] == 7
    assert anew.json()["id"] != first.json()["id"]
    assert Transfer.objects.count() == 2
    assert transfer_events() == 2
    # ... and the new answer is what the key replays now.
    again = post(client, "/api/v1/transfers/", {**TRANSFER, "quantity": 7}, "expired-key")
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == anew.json()
    assert Transfer.objects.count() == 2


def test_an_expired_key_with_the_identical_transfer_still_finds_the_first_transfer(
    api, project_owner, gecs
):
    """Transfers keep a database-level key of their own (caller, key and request): a very late
    retry of the very same transfer returns it instead of moving the units a second time."""
    client = api(project_owner)
    first = post(client, "/api/v1/transfers/", TRANSFER, "late-retry")
    expire("late-retry", purge=True)
    late = post(client, "/api/v1/transfers/", TRANSFER, "late-retry")
    assert late.status_code == 201
    assert late.json() == first.json()
    assert Transfer.objects.count() == 1
    assert transfer_events() == 1


@pytest.mark.parametrize("purged", [True, False], ids=["purged", "expired-not-yet-purged"])
def test_an_expired_key_acts_anew_on_other_endpoints_even_with_the_same_body(
    api, project_owner, gecs, purged
):
    client = api(project_owner)
    body = {**RETIREMENT_DEFAULTS, "mechanism": "GEC", "account": "CN-00000001", "quantity": 5}
    first = post(client, "/api/v1/retirements/", body, "retire-key")
    assert first.status_code == 201
    assert post(client, "/api/v1/retirements/", body, "retire-key").json() == first.json()
    assert Retirement.objects.count() == 1
    expire("retire-key", purge=purged)
    anew = post(client, "/api/v1/retirements/", body, "retire-key")
    assert anew.status_code == 201
    assert "Idempotent-Replayed" not in anew
    assert anew.json()["id"] != first.json()["id"]
    assert Retirement.objects.count() == 2


# --- every other write endpoint -----------------------------------------------------------------


def _project_body(ctx):
    return {
        "name": "Second wind farm",
        "province": "CN-NM",
        "technology": "wind",
        "capacity_mw": "30",
        "commissioning_date": "2023-05-01",
    }


def _production_body(ctx):
    start, end = month(2025, 5)
    return {
        "project": ctx["wind_farm"].code,
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "quantity": "12.5",
    }


def _declaration_body(ctx):
    start, end = month(2025, 6)
    return {
        "project": ctx["wind_farm"].code,
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
    }


def _issuance_body(ctx):
    return {
        "mechanism": "GEC",
        "production_record": ctx["march_record"].pk,
        "account": "CN-00000001",
        "quantity": 10,
    }


def _retirement_body(ctx):
    return {**RETIREMENT_DEFAULTS, "mechanism": "GEC", "account": "CN-00000001", "quantity": 10}


def _cancellation_body(ctx):
    return {"mechanism": "GEC", "account": "CN-00000001", "quantity": 10, "reason": "error"}


def _account_body(ctx):
    return {"name": "Second Wind Co account"}


def _organisation_body(ctx):
    return {"code": "new-trader", "name": "New trader", "kind": "trader"}


def _bulk_body(ctx):
    start, end = month(2025, 7)
    return {
        "records": [
            {
                "project": ctx["wind_farm"].code,
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "quantity": "3",
            }
        ]
    }


WRITES = {
    "projects": ("project_owner", "/api/v1/projects/", _project_body, Project, 201),
    "production-records": (
        "issuer",
        "/api/v1/production-records/",
        _production_body,
        "registry.ProductionRecord",
        201,
    ),
    "production-records/bulk": (
        "issuer",
        "/api/v1/production-records/bulk/",
        _bulk_body,
        "registry.ProductionRecord",
        200,
    ),
    "declarations": (
        "project_owner",
        "/api/v1/declarations/",
        _declaration_body,
        "registry.Declaration",
        201,
    ),
    "issuances": ("issuer", "/api/v1/issuances/", _issuance_body, UnitClaim, 201),
    "retirements": ("project_owner", "/api/v1/retirements/", _retirement_body, Retirement, 201),
    "cancellations": (
        "project_owner",
        "/api/v1/cancellations/",
        _cancellation_body,
        Cancellation,
        201,
    ),
    "accounts": (
        "project_owner",
        "/api/v1/accounts/",
        _account_body,
        "accounts.HoldingAccount",
        201,
    ),
    "organizations": (
        "administrator",
        "/api/v1/organizations/",
        _organisation_body,
        "accounts.Organisation",
        201,
    ),
}


@pytest.mark.parametrize("endpoint", list(WRITES))
def test_every_write_endpoint_honours_the_key(
    api, request, endpoint, issuer, project_owner, administrator, gecs, wind_farm, march_record
):
    from django.apps import apps

    persona, path, body_of, model, created_status = WRITES[endpoint]
    if isinstance(model, str):
        model = apps.get_model(model)
    if endpoint == "issuances":
        # Leave room on the March record: revoke nothing, record April and issue from it.
        start, end = month(2025, 4)
        march_record = production_of(issuer, wind_farm, start, end)
    client = api(request.getfixturevalue(persona))
    body = body_of({"wind_farm": wind_farm, "march_record": march_record})
    rows_before = model.objects.count()
    events_before = LedgerEvent.objects.count()

    first = post(client, path, body, f"key-{endpoint}")
    assert first.status_code == created_status, first.content
    rows_after = model.objects.count()
    assert rows_after == rows_before + 1
    events_after = LedgerEvent.objects.count()
    assert events_after > events_before

    second = post(client, path, body, f"key-{endpoint}")
    assert second.status_code == created_status
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert model.objects.count() == rows_after
    assert LedgerEvent.objects.count() == events_after

    changed = {**body, "extra": "a different body"}
    reused = post(client, path, changed, f"key-{endpoint}")
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert model.objects.count() == rows_after
