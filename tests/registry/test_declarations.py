"""Declarations of no double counting: exact text, SHA-256, signer, revocation."""

import hashlib

import pytest
from django.db import DatabaseError, transaction

from issuance.services import unit_claim_issue
from registry.errors import Conflict, Forbidden
from registry.models import Declaration
from registry.services import declaration_revoke, declaration_sign
from tests.conftest import month


def test_owner_signs_generated_text_stored_with_its_hash(project_owner, wind_farm):
    start, end = month(2025, 3)
    declaration = declaration_sign(
        actor=project_owner,
        project=wind_farm,
        unit_kind="E",
        period_start=start,
        period_end=end,
        other_registrations=[{"registry": "I-REC", "identifier": "DEV-1"}],
    )
    assert wind_farm.code in declaration.text
    assert "I-REC DEV-1" in declaration.text
    assert declaration.text_sha256 == hashlib.sha256(declaration.text.encode()).hexdigest()
    assert declaration.signer == project_owner


def test_declaration_in_chinese(project_owner, wind_farm):
    start, end = month(2025, 3)
    declaration = declaration_sign(
        actor=project_owner,
        project=wind_farm,
        unit_kind="E",
        period_start=start,
        period_end=end,
        language="zh-hans",
    )
    assert "不重复计算声明" in declaration.text


def test_only_the_owner_signs(issuer, buyer, wind_farm):
    start, end = month(2025, 3)
    for actor in (issuer, buyer):
        with pytest.raises(Forbidden):
            declaration_sign(
                actor=actor, project=wind_farm, unit_kind="E", period_start=start, period_end=end
            )


def test_signed_text_cannot_be_rewritten_in_the_database(project_owner, wind_farm):
    start, end = month(2025, 3)
    declaration = declaration_sign(
        actor=project_owner, project=wind_farm, unit_kind="E", period_start=start, period_end=end
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        Declaration.objects.filter(pk=declaration.pk).update(text="something else")


def test_revoked_declaration_stops_future_issuance_only(
    issuer, project_owner, wind_farm, march_record, owner_account
):
    start, end = month(2025, 3)
    declaration = declaration_sign(
        actor=project_owner, project=wind_farm, unit_kind="E", period_start=start, period_end=end
    )
    earlier = unit_claim_issue(
        actor=issuer,
        mechanism="TIGR",
        production_record=march_record,
        account=owner_account,
        quantity=10,
    )
    declaration_revoke(actor=project_owner, declaration=declaration, reason="joined GEC only")
    with pytest.raises(Conflict) as refusal:
        unit_claim_issue(
            actor=issuer,
            mechanism="TIGR",
            production_record=march_record,
            account=owner_account,
            quantity=10,
        )
    assert refusal.value.code == "rule_violation"
    assert refusal.value.details["rule"] == "R13"
    assert refusal.value.details["facts"]["reason"] == "declaration_missing"
    earlier.refresh_from_db()
    assert earlier.status == "live"
    with pytest.raises(Conflict):
        declaration_revoke(actor=project_owner, declaration=declaration, reason="twice")
