"""The web entry points and the background worker: admin pages, health page, demo data, and a
real Celery worker on the real broker."""

import time

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

from registry.models import Checkpoint, LedgerEvent, Project, UnitClaim
from tracking.models import Block, Retirement, Transfer


def test_admin_login_page_is_served(client):
    assert client.get("/admin/login/").status_code == 200


def test_every_registered_model_has_a_working_admin_list(client, administrator):
    administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    assert client.get("/admin/").status_code == 200
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url


def test_ledger_is_read_only_in_the_admin(client, administrator):
    administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    assert client.get(reverse("admin:registry_ledgerevent_add")).status_code == 403


def test_seed_demo_shows_the_point_and_is_idempotent(db, capsys):
    call_command("seed_demo")
    output = capsys.readouterr().out
    assert "admin login: admin / registry-demo" in output
    counts = (UnitClaim.objects.count(), Block.objects.count(), LedgerEvent.objects.count())
    assert Transfer.objects.exists() and Retirement.objects.exists()
    refused = LedgerEvent.objects.get(kind=LedgerEvent.Kind.ATTEMPT_REFUSED)
    assert refused.payload["details"]["existing_claim"]["mechanism"] == "CCER"
    assert {"GEC", "CCER"} <= set(UnitClaim.objects.values_list("mechanism__code", flat=True))
    for project in Project.objects.all():
        assert project.national_code and project.latitude and project.longitude, project
    assert Project.objects.filter(technology="wind", meters__meter_id="NM-BYN-M0001").exists()
    call_command("seed_demo")
    assert "nothing changed" in capsys.readouterr().out
    assert counts == (UnitClaim.objects.count(), Block.objects.count(), LedgerEvent.objects.count())
    call_command("ledger_verify")


@pytest.mark.django_db(transaction=True)
def test_celery_worker_seals_the_ledger_through_the_real_broker(db):
    from celery.contrib.testing.worker import start_worker

    from registry.celery import app
    from registry.ledger import record_event
    from registry.tasks import ledger_seal_task

    record_event(kind="organisation.created", actor=None, payload={"worker": True})
    with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        # The task is idempotent; retry while another server transaction holds the boundary.
        for _attempt in range(50):
            sequence = ledger_seal_task.delay().get(timeout=30)
            if sequence is not None:
                break
            time.sleep(0.2)
    assert sequence == 1
    assert Checkpoint.objects.get().event_count == 1


@pytest.mark.django_db(transaction=True)
def test_health_page_reports_database_redis_and_worker(client):
    from celery.contrib.testing.worker import start_worker

    from registry.celery import app

    with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        response = client.get("/health/?format=json")
    assert response.status_code == 200, response.content


def test_admin_creates_accounts_through_the_service(client, administrator, buyer):
    from accounts.models import HoldingAccount

    administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    for name in ("First", "Second"):
        response = client.post(
            reverse("admin:accounts_holdingaccount_add"),
            {"organisation": buyer.organisation_id, "name": name},
        )
        assert response.status_code == 302, response.content
    numbers = list(HoldingAccount.objects.order_by("pk").values_list("number", flat=True))
    assert all(number.startswith("CN-") for number in numbers) and len(set(numbers)) == 2
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ACCOUNT_OPENED).count() == 2
