"""A downward correction racing an issuance on the same record, on real connections: both take
the stream's allocation lock, so either the units are issued and the correction is refused, or
the correction withdraws them and the issuance finds too few; never a claim on withdrawn
serials."""

from __future__ import annotations

import pytest
from django.db import connection

from issuance.services import production_record_correct, unit_claim_issue
from registry.errors import Conflict
from registry.models import ProductionRecord, UnitClaim
from tests.tracking.test_concurrency import run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


@pytest.mark.parametrize("attempt", range(3))
def test_a_correction_and_an_issuance_of_the_same_units_never_both_win(
    issuer, march_record, owner_account, attempt
):
    results = run_at_once(
        [
            lambda: unit_claim_issue(
                actor=issuer,
                mechanism="GEC",
                production_record=march_record,
                account=owner_account,
                quantity=1000,
            ),
            lambda: production_record_correct(
                actor=issuer,
                production_record=march_record,
                direction="down",
                quantity="10",
                reason="meter fault",
                evidence="grid statement",
            ),
        ]
    )
    issued, corrected = results
    won = [not isinstance(result, Exception) for result in results]
    assert won.count(True) == 1, results
    if won[0]:
        assert isinstance(corrected, Conflict) and corrected.code == "correction_below_issued"
        assert not ProductionRecord.objects.filter(source="correction").exists()
    else:
        assert isinstance(issued, Conflict) and issued.code == "insufficient_unclaimed_units"
        assert not UnitClaim.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM registry_unitclaim AS claim
               JOIN registry_productionrecord AS correction
                 ON correction.corrects_id = claim.production_record_id
                AND correction.withdrawn && claim.serials
               WHERE claim.status = 'live'"""
        )
        assert cursor.fetchone()[0] == 0
