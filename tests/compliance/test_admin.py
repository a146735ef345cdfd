"""The compliance admin: pages open, creation and the pre-allocation action go through the
services, allocations and surrenders are read-only."""

from __future__ import annotations

import pytest
from django.test import Client

from compliance.models import Allocation, ComplianceScheme, CoveredEntity
from tests.compliance.conftest import verify


@pytest.fixture
def admin_client(administrator):
    administrator.is_superuser = True  # Django's admin permissions, as the other admin tests
    administrator.save()
    client = Client()
    client.force_login(administrator)
    return client


@pytest.mark.parametrize(
    "model", ["compliancescheme", "coveredentity", "verifiedemission", "allocation", "surrender"]
)
def test_the_compliance_admin_pages_open(admin_client, obliged, model):
    assert admin_client.get(f"/admin/compliance/{model}/").status_code == 200


def test_allocations_and_surrenders_cannot_be_added_in_the_admin(admin_client):
    assert admin_client.get("/admin/compliance/allocation/add/").status_code == 403
    assert admin_client.get("/admin/compliance/surrender/add/").status_code == 403


def test_registering_an_entity_in_the_admin_opens_its_compliance_account(
    admin_client, national, steel_maker
):
    response = admin_client.post(
        "/admin/compliance/coveredentity/add/",
        {"scheme": national.pk, "organisation": steel_maker.pk},
    )

    assert response.status_code == 302
    entity = CoveredEntity.objects.get()
    assert entity.account.organisation == steel_maker


def test_the_admin_action_pre_allocates_the_next_year(admin_client, administrator, entity):
    figure = verify(administrator, entity, 2023, 2000)

    admin_client.post(
        "/admin/compliance/verifiedemission/",
        {"action": "pre_allocate_next_year", "_selected_action": [figure.pk]},
    )

    allocation = Allocation.objects.get()
    assert (allocation.compliance_year, allocation.quantity) == (2024, 1400)


def test_a_scheme_added_in_the_admin_gets_its_budget_project(admin_client, ministry):
    response = admin_client.post(
        "/admin/compliance/compliancescheme/add/",
        {
            "code": "bj-pilot",
            "name": "Beijing pilot",
            "kind": "pilot",
            "ccer_limit_percent": "5",
            "old_ccer_issued_before": "2017-03-14",
            "old_ccer_unusable_from": "2025-01-01",
            "authority": ministry.pk,
            "province": "CN-BJ",
        },
    )

    assert response.status_code == 302
    scheme = ComplianceScheme.objects.get(code="bj-pilot")
    assert scheme.budget_project.owner == ministry
    assert scheme.budget_project.province == "CN-BJ"
