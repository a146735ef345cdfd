"""The reports API: requesting a report (202, queued on the real broker), following it, and what
a bad scope, a forbidden caller, a broker that is down and a repeated Idempotency-Key get."""

from __future__ import annotations

import hashlib

import pytest

from audit.checks import CHECKS
from audit.models import UniquenessReport
from audit.outputs import report_json
from audit.services import EXTRA_PHASES, uniqueness_report_request, uniqueness_report_run
from registry.models import IdempotencyRecord, LedgerEvent
from tests.audit.support import broker_redis

REPORTS = "/api/v1/reports/"
PROBLEM = "application/problem+json"


def _queued_messages(queue: str) -> int:
    return broker_redis().llen(queue)


def _finished_report(actor, scope=None) -> UniquenessReport:
    report = uniqueness_report_request(actor=actor, scope=scope, enqueue=lambda report: "")
    return uniqueness_report_run(report_id=report.pk)


def test_an_auditor_requests_a_report_and_it_is_queued_on_the_broker(
    api, auditor, march_record, report_queue
):
    events = LedgerEvent.objects.count()

    response = api(auditor).post(
        REPORTS, {"mechanism": "gec", "vintage_from": 202501, "province": ""}, format="json"
    )

    assert response.status_code == 202, response.data
    body = response.data
    report = UniquenessReport.objects.get()
    assert body["id"] == report.pk and body["public_id"] == str(report.public_id)
    assert (body["status"], body["phase"]) == ("queued", "")
    assert body["progress"] == {"done": 0, "total": len(CHECKS) + EXTRA_PHASES}
    assert report.scope == {"mechanism": "GEC", "vintage_from": 202501}
    assert body["scope"] == {
        "mechanism": "GEC",
        "project": None,
        "province": None,
        "organisation": None,
        "vintage_from": 202501,
        "vintage_to": None,
    }
    assert body["requested_by"] == "auditor"
    assert body["checks"] == [] and body["content_sha256"] is None
    assert body["links"] == {
        name: f"http://testserver/api/v1/reports/{report.pk}/report.{name}"
        for name in ("json", "csv", "html", "pdf")
    }
    assert report.task_id and _queued_messages(report_queue) == 1
    assert LedgerEvent.objects.count() == events  # a report reads the registry: no event


@pytest.mark.parametrize(
    ("scope", "field"),
    [
        ({"vintage_from": 202513}, "vintage_from"),
        ({"vintage_to": "March"}, "vintage_to"),
        ({"vintage_from": 202512, "vintage_to": 202501}, "vintage_from"),
        ({"mechanism": "NO-SUCH-MECHANISM"}, "mechanism"),
        ({"project": "P-NONE"}, "project"),
        ({"organisation": "nobody"}, "organisation"),
        ({"province": "CN-" + "X" * 70}, "province"),
        ({"mechanisms": "GEC"}, "mechanisms"),
    ],
)
def test_a_bad_scope_is_refused_naming_the_field_and_nothing_is_stored(
    api, administrator, report_queue, scope, field
):
    response = api(administrator).post(REPORTS, scope, format="json")

    assert response.status_code == 400, response.data
    assert response["Content-Type"] == PROBLEM
    assert set(response.data["errors"]) == {field}
    if field != "vintage_to":  # "March" is not even an integer: the serializer says so first
        assert response.data["reason"] == "invalid_scope"
        assert response.data["errors"][field][0]["code"] == "invalid_scope"
    assert not UniquenessReport.objects.exists()
    assert _queued_messages(report_queue) == 0


@pytest.mark.parametrize("persona", ["issuer", "project_owner", "buyer", "outsider"])
def test_other_roles_may_not_request_a_report(db, api, request, persona):
    response = api(request.getfixturevalue(persona)).post(REPORTS, {}, format="json")

    assert response.status_code == 403
    assert response.data["code"] == "permission_denied"
    assert not UniquenessReport.objects.exists()


def test_a_broker_that_is_down_answers_503_and_changes_nothing(
    api, administrator, march_record, unreachable_broker
):
    events = LedgerEvent.objects.count()
    client = api(administrator)

    response = client.post(
        REPORTS, {"mechanism": "GEC"}, format="json", HTTP_IDEMPOTENCY_KEY="report-1"
    )

    assert response.status_code == 503, response.data
    assert response["Content-Type"] == PROBLEM
    assert response.data["code"] == "broker_unavailable"
    assert not UniquenessReport.objects.exists()
    assert LedgerEvent.objects.count() == events
    # The key is forgotten with the server error, so the same request may be retried.
    assert not IdempotencyRecord.objects.filter(key="report-1").exists()


def test_the_same_request_is_accepted_once_the_broker_is_back(api, administrator, report_queue):
    from tests.audit.support import broker_down

    client = api(administrator)
    with broker_down():
        refused = client.post(REPORTS, {}, format="json", HTTP_IDEMPOTENCY_KEY="again")
    accepted = client.post(REPORTS, {}, format="json", HTTP_IDEMPOTENCY_KEY="again")

    assert (refused.status_code, accepted.status_code) == (503, 202)
    assert UniquenessReport.objects.count() == 1


def test_a_repeated_idempotency_key_replays_the_first_report(api, auditor, report_queue):
    client = api(auditor)

    first = client.post(REPORTS, {"vintage_from": 202503}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    repeat = client.post(REPORTS, {"vintage_from": 202503}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    other = client.post(REPORTS, {"vintage_from": 202504}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert (first.status_code, repeat.status_code, other.status_code) == (202, 202, 422)
    assert repeat["Idempotent-Replayed"] == "true"
    assert repeat.json()["id"] == first.data["id"]
    assert UniquenessReport.objects.count() == 1
    assert _queued_messages(report_queue) == 1


def test_a_finished_report_shows_each_check_its_hash_and_checkpoint(
    api, auditor, administrator, march_record
):
    report = _finished_report(administrator)

    response = api(auditor).get(f"{REPORTS}{report.pk}/")

    assert response.status_code == 200
    body = response.data
    assert body["status"] == "passed" and body["phase"] == "done"
    assert body["progress"]["done"] == body["progress"]["total"]
    assert [check["id"] for check in body["checks"]] == [check.id for check in CHECKS]
    periods = body["checks"][0]
    assert (periods["verdict"], periods["examined"], periods["offending"]) == ("pass", 1, 0)
    assert periods["title"] == str(CHECKS[0].title)
    assert body["content_sha256"] == hashlib.sha256(report_json(report)).hexdigest()
    assert body["checkpoint"] == {
        "sequence": report.checkpoint_sequence,
        "checkpoint_hash": report.checkpoint_hash or None,
        "merkle_root": report.checkpoint_root or None,
        "last_event_id": report.last_event_id,
    }
    assert body["started_at"] and body["finished_at"] and body["attempts"] == 1


def test_the_list_filters_by_status_and_others_see_only_their_own_requests(
    api, administrator, auditor, buyer, march_record
):
    passed = _finished_report(administrator)
    queued = uniqueness_report_request(actor=administrator, enqueue=lambda report: "")
    # Requested when the buyer was still an auditor (the service itself does not ask).
    own = uniqueness_report_request(actor=buyer, enqueue=lambda report: "")

    def ids(user, **query):
        response = api(user).get(REPORTS, query)
        assert response.status_code == 200, response.data
        return [row["id"] for row in response.data["results"]]

    assert ids(auditor) == [own.pk, queued.pk, passed.pk]
    assert ids(auditor, status="passed") == [passed.pk]
    assert ids(auditor, status="queued") == [own.pk, queued.pk]
    assert ids(buyer) == [own.pk]
    assert api(buyer).get(f"{REPORTS}{passed.pk}/").status_code == 404
    assert api(auditor).get(REPORTS, {"status": "nonsense"}).status_code == 400
