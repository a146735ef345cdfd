"""Authentication (tokens and sessions), problem+json errors with stable codes, write rate limits
and pagination of the API."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import HoldingAccount, Organisation
from issuance.services import unit_claim_issue
from registry.api import pagination
from registry.api.throttles import WriteRateThrottle
from registry.ledger import record_event
from registry.models import IdempotencyRecord, LedgerEvent
from registry.serials import Serial
from tests.conftest import RETIREMENT_DEFAULTS
from tracking.models import Transfer

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
PASSWORD = "correct horse battery staple"
TRANSFER = {
    "mechanism": "GEC",
    "source_account": "CN-00000001",
    "target_account": "CN-00000002",
    "quantity": 10,
}


@pytest.fixture
def gecs(issuer, march_record, owner_account, buyer_account):
    return unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
    )


@pytest.fixture
def with_password(project_owner):
    project_owner.set_password(PASSWORD)
    project_owner.save()
    return project_owner


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"urn:registry:problem:{code}"
    assert body["title"] and body["detail"]
    return body


def token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


# --- tokens ---------------------------------------------------------------------------------


def test_a_token_is_given_for_a_username_and_password_and_works_as_authorization_token(
    with_password, owner_account
):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "owner", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user"]["username"] == "owner"
    assert body["user"]["role"] == "project_owner"
    assert body["user"]["accounts"] == ["CN-00000001"]
    assert body["expiry"] is not None
    expiry = dt.datetime.fromisoformat(body["expiry"])
    assert expiry > timezone.now()
    assert expiry <= timezone.now() + settings.REST_KNOX["TOKEN_TTL"] + dt.timedelta(seconds=5)

    me = token_client(body["token"]).get("/api/v1/users/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "owner"
    # Bearer is not the scheme: the request is anonymous, so 401.
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert_problem(bearer.get("/api/v1/users/me/"), 401, "not_authenticated")


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "owner", "password": "wrong"},
        {"username": "nobody", "password": PASSWORD},
        {"username": "owner"},
    ],
    ids=["wrong-password", "unknown-user", "no-password"],
)
def test_wrong_credentials_get_400_validation_error_and_no_token(with_password, credentials):
    response = APIClient().post("/api/v1/auth/token/", credentials, format="json")
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"]
    assert "token" not in body
    assert not AuthToken.objects.exists()


def test_an_inactive_user_gets_no_token(with_password):
    with_password.is_active = False
    with_password.save()
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "owner", "password": PASSWORD}, format="json"
    )
    assert_problem(response, 400, "validation_error")


def test_tokens_are_stored_hashed(with_password):
    tokens = [
        APIClient()
        .post("/api/v1/auth/token/", {"username": "owner", "password": PASSWORD}, format="json")
        .json()["token"]
        for _ in range(2)
    ]
    assert tokens[0] != tokens[1]
    rows = list(AuthToken.objects.values())
    assert len(rows) == 2
    for row in rows:
        stored = " ".join(str(value) for value in row.values())
        for token in tokens:
            assert token not in stored
        assert len(row["digest"]) >= 64  # a SHA-512 hex digest, not the token
        assert row["token_key"] in {token[: len(row["token_key"])] for token in tokens}
        assert len(row["token_key"]) < len(tokens[0]) // 2  # only a short lookup prefix


def test_logout_revokes_the_token_and_the_next_request_is_401(api, project_owner):
    client = api(project_owner)
    assert client.get("/api/v1/users/me/").status_code == 200
    assert AuthToken.objects.filter(user=project_owner).count() == 1
    other = api(project_owner)  # a second token of the same user

    logout = client.post("/api/v1/auth/logout/")
    assert logout.status_code == 204
    assert AuthToken.objects.filter(user=project_owner).count() == 1

    after = client.get("/api/v1/users/me/")
    assert_problem(after, 401, "authentication_failed")
    assert after["WWW-Authenticate"] == "Token"
    # Logging out once more with the revoked token is refused the same way.
    assert_problem(client.post("/api/v1/auth/logout/"), 401, "authentication_failed")
    # The other token still works until logout-all.
    assert other.get("/api/v1/users/me/").status_code == 200
    assert other.post("/api/v1/auth/logout-all/").status_code == 204
    assert_problem(other.get("/api/v1/users/me/"), 401, "authentication_failed")
    assert not AuthToken.objects.filter(user=project_owner).exists()


def test_without_credentials_the_api_answers_401_not_authenticated(api, owner_account):
    response = api(None).get("/api/v1/accounts/")
    body = assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"
    assert "detail" in body
    assert_problem(api(None).post("/api/v1/transfers/", TRANSFER), 401, "not_authenticated")


def test_an_expired_token_is_refused_with_401(api, project_owner):
    client = api(project_owner)
    assert client.get("/api/v1/users/me/").status_code == 200
    AuthToken.objects.filter(user=project_owner).update(
        expiry=timezone.now() - dt.timedelta(seconds=1)
    )
    response = client.get("/api/v1/users/me/")
    assert_problem(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == "Token"
    # The expired row is gone, not just refused.
    assert not AuthToken.objects.filter(user=project_owner).exists()


@pytest.mark.parametrize(
    "header",
    [
        "Token",
        "Token a b",
        "Token not-a-token",
        "Token " + "f" * 64,
        "Token " + "zz" * 32,
        "Token \u00ff\u00fe\u00fd",
    ],
    ids=["no-token", "spaces", "short", "unknown-hex", "non-hex", "not-utf-8"],
)
def test_a_malformed_or_unknown_token_is_401_never_500(api, project_owner, header):
    api(project_owner)  # a real token exists
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/users/me/")
    assert_problem(response, 401, "authentication_failed")


def test_an_inactive_users_token_is_refused(api, project_owner):
    client = api(project_owner)
    project_owner.is_active = False
    project_owner.save()
    assert_problem(client.get("/api/v1/users/me/"), 401, "authentication_failed")


# --- sessions -------------------------------------------------------------------------------


def test_a_logged_in_browser_session_authenticates_and_csrf_is_enforced_on_post(
    with_password, owner_account, buyer_account, gecs
):
    browser = APIClient(enforce_csrf_checks=True)
    assert browser.login(username="owner", password=PASSWORD)
    me = browser.get("/api/v1/users/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "owner"
    # The session reaches every endpoint the same way as a token.
    assert browser.get("/api/v1/accounts/CN-00000001/").status_code == 200

    events_before = LedgerEvent.objects.count()
    refused = browser.post("/api/v1/transfers/", TRANSFER, format="json")
    body = assert_problem(refused, 403, "permission_denied")
    assert "CSRF" in body["detail"]
    assert Transfer.objects.count() == 0
    assert LedgerEvent.objects.count() == events_before

    # With the CSRF token of the log-in page it acts.
    browser.get("/api/auth/login/")
    csrf = browser.cookies["csrftoken"].value
    accepted = browser.post("/api/v1/transfers/", TRANSFER, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 201, accepted.content
    assert Transfer.objects.count() == 1


# --- errors ---------------------------------------------------------------------------------


def test_malformed_json_is_400_validation_error_and_writes_nothing(api, project_owner, gecs):
    events_before = LedgerEvent.objects.count()
    response = api(project_owner).post(
        "/api/v1/transfers/", data='{"mechanism": "GEC",', content_type="application/json"
    )
    assert_problem(response, 400, "validation_error")
    assert LedgerEvent.objects.count() == events_before


def test_a_body_that_is_not_json_is_415(api, project_owner, gecs):
    response = api(project_owner).post(
        "/api/v1/transfers/", data="mechanism=GEC", content_type="application/x-www-form-urlencoded"
    )
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/api/v1/transfers/", {**TRANSFER, "mechanism": "NOPE"}, "mechanism"),
        ("/api/v1/transfers/", {**TRANSFER, "target_account": "CN-99999999"}, "target_account"),
        ("/api/v1/transfers/", {**TRANSFER, "source_account": "CN-99999999"}, "source_account"),
        ("/api/v1/transfers/", {**TRANSFER, "quantity": "ten"}, "quantity"),
        ("/api/v1/transfers/", {**TRANSFER, "quantity": 0}, "quantity"),
        (
            "/api/v1/transfers/",
            {k: v for k, v in TRANSFER.items() if k != "mechanism"},
            "mechanism",
        ),
        ("/api/v1/transfers/", {**TRANSFER, "serial_range": "CN-garbage"}, "quantity"),
        (
            "/api/v1/retirements/",
            {
                **RETIREMENT_DEFAULTS,
                "mechanism": "GEC",
                "account": "CN-00000001",
                "quantity": 1,
                "purpose": "bragging",
            },
            "purpose",
        ),
        (
            "/api/v1/retirements/",
            {
                **RETIREMENT_DEFAULTS,
                "mechanism": "GEC",
                "account": "CN-00000001",
                "quantity": 1,
                "location": "CN-XX",
            },
            "location",
        ),
        (
            "/api/v1/retirements/",
            {
                **RETIREMENT_DEFAULTS,
                "mechanism": "GEC",
                "account": "CN-00000001",
                "quantity": 1,
                "claim_period_start": "March",
            },
            "claim_period_start",
        ),
        (
            "/api/v1/projects/",
            {"name": "X", "province": "CN-NM", "technology": "perpetual_motion"},
            "technology",
        ),
        ("/api/v1/projects/", {"name": "X", "province": "ZZ", "technology": "wind"}, "province"),
    ],
)
def test_unknown_or_invalid_field_values_are_400_validation_error_naming_the_field(
    api, project_owner, gecs, path, body, field
):
    events_before = LedgerEvent.objects.count()
    response = api(project_owner).post(path, body)
    problem = assert_problem(response, 400, "validation_error")
    assert field in problem["errors"], problem
    assert problem["errors"][field][0]["message"]
    assert LedgerEvent.objects.count() == events_before
    assert Transfer.objects.count() == 0


def test_insufficient_units_is_409_with_the_numbers(api, project_owner, gecs):
    events_before = LedgerEvent.objects.count()
    response = api(project_owner).post("/api/v1/transfers/", {**TRANSFER, "quantity": 1001})
    body = assert_problem(response, 409, "insufficient_units")
    assert body["details"] == {"available": 1000, "requested": 1001}
    assert body["field"] == "quantity"
    assert Transfer.objects.count() == 0
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.UNITS_TRANSFERRED).exists()
    assert LedgerEvent.objects.count() - events_before <= 1  # at most a refused-attempt event


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/PZZZZZ/",
        f"/api/v1/transfers/{uuid.uuid4()}/",
        f"/api/v1/retirements/{uuid.uuid4()}/",
        "/api/v1/accounts/CN-99999999/",
        "/api/v1/issuances/999999/",
        "/api/v1/mechanisms/NOPE/",
        "/api/v1/no-such-thing/",
    ],
)
def test_an_unknown_object_is_404_not_found(api, administrator, path):
    response = api(administrator).get(path)
    if path == "/api/v1/no-such-thing/":
        # Outside every route: Django's own 404, not an API problem.
        assert response.status_code == 404
        return
    assert_problem(response, 404, "not_found")


def test_an_unknown_serial_is_404_and_a_malformed_one_is_400_for_the_public(db):
    public = APIClient()
    unknown = Serial("CN", "P7K4Q9", "E", 202503, 1001)
    assert_problem(public.get(f"/api/v1/verify/{unknown}/"), 404, "not_found")
    wrong_check = str(unknown)[:-2] + ("00" if not str(unknown).endswith("00") else "11")
    body = assert_problem(public.get(f"/api/v1/verify/{wrong_check}/"), 400, "validation_error")
    assert body["reason"] == "bad_check_number"
    body = assert_problem(public.get("/api/v1/verify/not-a-serial/"), 400, "validation_error")
    assert "serial" in body["errors"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("delete", "/api/v1/mechanisms/GEC/"),
        ("put", "/api/v1/mechanisms/GEC/"),
        ("patch", "/api/v1/accounts/CN-00000001/"),
        ("delete", "/api/v1/accounts/CN-00000001/"),
        ("get", "/api/v1/auth/logout/"),
        ("post", "/api/v1/ledger/"),
        ("post", "/api/v1/mechanisms/"),
    ],
)
def test_a_wrong_method_is_405_method_not_allowed(api, administrator, owner_account, method, path):
    events_before = LedgerEvent.objects.count()
    response = getattr(api(administrator), method)(path, {})
    body = assert_problem(response, 405, "method_not_allowed")
    assert method.upper() in body["detail"]
    assert LedgerEvent.objects.count() == events_before
    assert HoldingAccount.objects.filter(number="CN-00000001").exists()


def test_another_organisations_account_is_403_to_operate_and_404_to_read(
    api, buyer, project_owner, gecs
):
    buyer_api = api(buyer)
    refused = buyer_api.post(
        "/api/v1/transfers/",
        {**TRANSFER, "source_account": "CN-00000001", "target_account": "CN-00000002"},
    )
    assert_problem(refused, 403, "permission_denied")
    assert_problem(buyer_api.get("/api/v1/accounts/CN-00000001/"), 404, "not_found")
    assert Transfer.objects.count() == 0


# --- rate limits ----------------------------------------------------------------------------


@pytest.fixture
def three_writes_a_minute(monkeypatch):
    """DRF reads the rates once, onto the class: override them there. (The counters start from
    zero: tests/api/conftest.py gives each test a cache key prefix of its own.)"""
    monkeypatch.setattr(WriteRateThrottle, "THROTTLE_RATES", {"writes": "3/minute"})


def _open_account(client, name: str):
    return client.post("/api/v1/accounts/", {"name": name})


def test_the_n_plus_first_write_of_a_token_is_429_with_retry_after(
    api, project_owner, buyer, three_writes_a_minute
):
    client = api(project_owner)
    for number in range(3):
        assert _open_account(client, f"Account {number}").status_code == 201
    accounts = HoldingAccount.objects.count()
    events = LedgerEvent.objects.count()

    limited = _open_account(client, "one too many")
    body = assert_problem(limited, 429, "rate_limited")
    retry_after = int(limited["Retry-After"])
    assert 0 < retry_after <= 60
    assert body["detail"]
    assert HoldingAccount.objects.count() == accounts
    assert LedgerEvent.objects.count() == events
    # A throttled write with an Idempotency-Key is not stored: the key stays free.
    keyed = client.post("/api/v1/accounts/", {"name": "keyed"}, HTTP_IDEMPOTENCY_KEY="k-429")
    assert keyed.status_code == 429
    assert not IdempotencyRecord.objects.filter(key="k-429").exists()

    # Reads of the same token are not limited.
    for _ in range(5):
        assert client.get("/api/v1/accounts/").status_code == 200
    # Another caller's token counts on its own.
    assert _open_account(api(buyer), "buyer's own").status_code == 201


def test_the_write_counter_lives_in_the_shared_redis_cache(
    api, project_owner, three_writes_a_minute
):
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    client = api(project_owner)
    assert _open_account(client, "counted").status_code == 201
    token = AuthToken.objects.get(user=project_owner)
    key = WriteRateThrottle.cache_format % {
        "scope": "writes",
        "ident": f"token:{token.token_key}",
    }
    history = cache.get(key)
    assert isinstance(history, list) and len(history) == 1
    # Another process would see it: the key is in Redis itself, not in this process's memory.
    raw = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    assert raw.exists(cache.make_key(key)) == 1
    # Filling the bucket from "another worker" (straight in the cache) limits this client.
    cache.set(key, history * 3, 60)
    assert _open_account(client, "over").status_code == 429


def test_reads_are_not_rate_limited(api, project_owner, three_writes_a_minute):
    client = api(project_owner)
    for _ in range(10):
        assert client.get("/api/v1/mechanisms/").status_code == 200


# --- pagination -----------------------------------------------------------------------------


def test_page_size_above_1000_is_capped_at_1000(api, administrator):
    Organisation.objects.bulk_create(
        Organisation(code=f"bulk-{number:04d}", name=f"Bulk {number}", kind="trader")
        for number in range(1005)
    )
    client = api(administrator)
    total = Organisation.objects.count()
    page = client.get("/api/v1/organizations/", {"page_size": 5000}).json()
    assert page["count"] == total
    assert len(page["results"]) == 1000
    assert page["next"] is not None
    rest = client.get(page["next"]).json()
    assert len(rest["results"]) == total - 1000
    # The default page is 100.
    assert len(client.get("/api/v1/organizations/").json()["results"]) == 100
    assert pagination.MAX_PAGE_SIZE == 1000


def test_blocks_and_ledger_use_cursor_pagination_without_a_count(
    api, administrator, project_owner, gecs
):
    owner_api = api(project_owner)
    for _ in range(3):
        assert owner_api.post("/api/v1/transfers/", TRANSFER).status_code == 201
    client = api(administrator)
    for path in ("/api/v1/blocks/", "/api/v1/ledger/"):
        first = client.get(path, {"page_size": 2})
        assert first.status_code == 200, first.content
        page = first.json()
        assert "count" not in page
        assert len(page["results"]) == 2
        assert "cursor=" in page["next"]
        assert page["previous"] is None
        second = client.get(page["next"]).json()
        assert "count" not in second
        assert {row["id"] for row in second["results"]}.isdisjoint(
            {row["id"] for row in page["results"]}
        )
        capped = client.get(path, {"page_size": 100000})
        assert capped.status_code == 200
        # An invalid cursor is a 404 problem, never a 500.
        assert_problem(client.get(path, {"cursor": "garbage"}), 404, "not_found")
    # The ledger is newest first.
    ids = [row["id"] for row in client.get("/api/v1/ledger/").json()["results"]]
    assert ids == sorted(ids, reverse=True)


def test_cursor_pages_are_capped_at_1000(api, auditor, project_owner):
    for number in range(1001):
        record_event(
            kind=LedgerEvent.Kind.ACCOUNT_STATUS,
            actor=project_owner,
            subjects=[f"test:{number}"],
            payload={"n": number},
        )
    page = api(auditor).get("/api/v1/ledger/", {"page_size": 5000}).json()
    assert len(page["results"]) == 1000
    assert page["next"]
