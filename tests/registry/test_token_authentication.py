"""Token authentication reads the presented token only; expired tokens are purged hourly."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.exceptions import AuthenticationFailed

from registry.api.authentication import TokenAuthentication
from registry.tasks import token_purge_task


def test_authentication_costs_one_query_however_many_tokens_the_caller_holds(buyer):
    _instance, token = AuthToken.objects.create(user=buyer)
    for _ in range(20):
        AuthToken.objects.create(user=buyer)
    with CaptureQueriesContext(connection) as captured:
        user, auth_token = TokenAuthentication().authenticate_credentials(token.encode())
    assert user == buyer
    assert auth_token.token_key == token[: len(auth_token.token_key)]
    assert len(captured.captured_queries) == 1


def test_an_expired_token_is_refused_and_deleted_when_presented(buyer):
    instance, token = AuthToken.objects.create(user=buyer)
    AuthToken.objects.filter(pk=instance.pk).update(expiry=timezone.now() - dt.timedelta(1))
    with pytest.raises(AuthenticationFailed):
        TokenAuthentication().authenticate_credentials(token.encode())
    assert not AuthToken.objects.filter(pk=instance.pk).exists()


def test_the_purge_deletes_expired_tokens_only(buyer, project_owner):
    live, _token = AuthToken.objects.create(user=buyer)
    expired, _token = AuthToken.objects.create(user=buyer)
    other_expired, _token = AuthToken.objects.create(user=project_owner)
    past = timezone.now() - dt.timedelta(seconds=1)
    AuthToken.objects.filter(pk__in=[expired.pk, other_expired.pk]).update(expiry=past)
    assert token_purge_task.apply().get() == 2
    assert list(AuthToken.objects.values_list("pk", flat=True)) == [live.pk]
