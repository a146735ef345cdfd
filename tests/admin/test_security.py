"""Admin security: staff only, password guessing locked out (django-axes, per username and
address), sessions that expire; the API's token log-in works with the lockout on."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.urls import reverse
from rest_framework.test import APIClient

PASSWORD = "correct horse battery staple"
LOGIN = reverse("admin:login")


@pytest.fixture
def lockout_on(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    return settings


@pytest.fixture
def staff_administrator(administrator):
    administrator.set_password(PASSWORD)
    administrator.is_superuser = True
    administrator.save()
    return administrator


def _admin_login(client, password: str):
    return client.post(
        LOGIN, {"username": "admin", "password": password, "next": reverse("admin:index")}
    )


def test_the_admin_locks_out_after_the_failure_limit_even_with_the_right_password(
    client, lockout_on, staff_administrator
):
    for _ in range(2):
        assert _admin_login(client, "wrong").status_code == 200  # the form again, with an error
    third = _admin_login(client, "wrong")
    after = _admin_login(client, PASSWORD)

    assert third.status_code == 429 and after.status_code == 429
    assert AccessAttempt.objects.get(username="admin").failures_since_start >= 3
    assert client.get(reverse("admin:index")).status_code == 302  # still not logged in


def test_a_successful_admin_login_below_the_limit_resets_the_count(
    client, lockout_on, staff_administrator
):
    _admin_login(client, "wrong")
    _admin_login(client, "wrong")

    response = _admin_login(client, PASSWORD)

    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    assert not AccessAttempt.objects.filter(username="admin").exists()


def test_the_lockout_is_per_address_so_a_guesser_elsewhere_does_not_lock_the_admin_out(
    client, lockout_on, staff_administrator
):
    for _ in range(3):
        client.post(LOGIN, {"username": "admin", "password": "wrong"}, REMOTE_ADDR="203.0.113.9")

    response = _admin_login(client, PASSWORD)

    assert response.status_code == 302


def test_the_api_token_login_works_with_the_lockout_on_and_is_locked_out_too(
    lockout_on, project_owner
):
    project_owner.set_password(PASSWORD)
    project_owner.save()
    api = APIClient()

    ok = api.post("/api/v1/auth/token/", {"username": "owner", "password": PASSWORD}, format="json")
    for _ in range(3):
        api.post("/api/v1/auth/token/", {"username": "owner", "password": "x"}, format="json")
    locked = api.post(
        "/api/v1/auth/token/", {"username": "owner", "password": PASSWORD}, format="json"
    )

    assert ok.status_code == 201 and ok.json()["token"]
    # Locked out, even the right password is refused, with the lockout's own code.
    assert locked.status_code == 429 and "token" not in locked.json()
    assert locked["Content-Type"] == "application/problem+json"
    assert locked.json()["code"] == "locked_out"
    assert locked["Retry-After"] == "3600"
    assert AccessAttempt.objects.get(username="owner").failures_since_start >= 3


def test_the_api_token_login_answers_400_below_the_limit_and_429_from_the_failure_reaching_it(
    lockout_on, project_owner
):
    project_owner.set_password(PASSWORD)
    project_owner.save()
    api = APIClient()

    answers = [
        api.post("/api/v1/auth/token/", {"username": "owner", "password": "x"}, format="json")
        for _ in range(3)
    ]

    assert [answer.status_code for answer in answers] == [400, 400, 429]
    assert answers[0].json()["code"] == "validation_error"
    assert answers[2].json()["code"] == "locked_out"


def test_a_lockout_of_the_api_login_is_per_username(lockout_on, project_owner, buyer):
    buyer.set_password(PASSWORD)
    buyer.save()
    api = APIClient()
    for _ in range(3):
        api.post("/api/v1/auth/token/", {"username": "owner", "password": "x"}, format="json")

    other = api.post(
        "/api/v1/auth/token/", {"username": "buyer", "password": PASSWORD}, format="json"
    )

    assert other.status_code == 201


def test_only_staff_reach_the_admin(client, buyer):
    buyer.set_password(PASSWORD)
    buyer.save()
    client.post(LOGIN, {"username": "buyer", "password": PASSWORD})

    assert client.get(reverse("admin:index")).status_code == 302


def test_sessions_expire():
    assert django_settings.SESSION_COOKIE_AGE <= 12 * 3600
    assert django_settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert django_settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
