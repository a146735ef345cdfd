"""The rule catalogue as the API and the admin show it."""

from __future__ import annotations

import pytest
from django.test import override_settings

from issuance.rules import CATALOGUE

EXPECTED_IDS = [f"R{number}" for number in range(1, 15)]


def test_every_rule_of_the_domain_is_in_the_catalogue_with_bilingual_description():
    from django.utils import translation

    ids = [rule.id for rule in CATALOGUE]
    assert ids[:14] == EXPECTED_IDS
    for rule in CATALOGUE:
        assert rule.effect in ("reject", "flag")
        assert rule.source
        assert rule.enforced_by and "not enforced" not in rule.enforced_by, rule.id
        english = str(rule.description)
        with translation.override("zh-hans"):
            chinese = str(rule.description)
        assert chinese != english, f"{rule.id} has no Chinese description"


@pytest.mark.django_db
def test_rules_endpoint_is_public_and_says_which_rules_are_enabled(client):
    with override_settings(REGISTRY_DISABLED_RULES=["R14"]):
        response = client.get("/api/v1/rules/")
    assert response.status_code == 200
    by_id = {rule["id"]: rule for rule in response.json()}
    assert list(by_id)[:14] == EXPECTED_IDS
    assert by_id["R14"]["enabled"] is False and by_id["R14"]["configurable"] is True
    assert by_id["R1"]["enabled"] is True and by_id["R1"]["configurable"] is False
    assert by_id["R3"]["mechanisms"] == ["CCER"]
    assert by_id["R3"]["effect"] == "reject"


@pytest.mark.django_db
def test_a_rule_that_is_not_configurable_cannot_be_switched_off(client):
    with override_settings(REGISTRY_DISABLED_RULES=["R1", "R3"]):
        by_id = {rule["id"]: rule for rule in client.get("/api/v1/rules/").json()}
    assert by_id["R1"]["enabled"] is True
    assert by_id["R3"]["enabled"] is True


def test_admin_lists_the_catalogue_with_enabled_flags(client, administrator):
    client.force_login(administrator)
    with override_settings(REGISTRY_DISABLED_RULES=["R5"]):
        page = client.get("/admin/rules/")
    assert page.status_code == 200
    html = page.content.decode()
    for rule_id in EXPECTED_IDS:
        assert f'id="rule-{rule_id}"' in html
    row_r5 = html.split('id="rule-R5"')[1].split("</tr>")[0]
    assert '<td class="enabled">no</td>' in row_r5
    index = client.get("/admin/").content.decode()
    assert "/admin/rules/" in index


def test_admin_rule_catalogue_needs_a_staff_login(client, buyer):
    assert client.get("/admin/rules/").status_code == 302
    client.force_login(buyer)
    assert client.get("/admin/rules/").status_code == 302
