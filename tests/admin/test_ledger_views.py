"""The ledger in the admin: read-only, filtered by kind, organisation, rule, date and subject;
every object's page links to its ledger history; the index shows the approval queue."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from issuance.services import unit_claim_issue
from registry.errors import DoubleClaim, RuleViolation
from registry.ledger import record_flag, record_refusal
from registry.models import LedgerEvent, Project
from registry.serials import SerialRange
from registry.services import project_register
from tests.admin.conftest import RETIREMENT
from tracking.models import Block
from tracking.services import block_retire

LEDGER = reverse("admin:registry_ledgerevent_changelist")


def _listed_ids(response) -> set[int]:
    return {event.pk for event in response.context["cl"].result_list}


def test_every_objects_page_links_to_its_ledger_history(
    admin_client, gec_claim, owner_account, wind_farm, project_owner
):
    retirement = block_retire(
        actor=project_owner, account=owner_account, mechanism="GEC", quantity=10, **RETIREMENT
    )
    block = Block.objects.filter(claim=gec_claim).first()
    pages = [
        (f"claim:{gec_claim.pk}", "registry_unitclaim", gec_claim.pk),
        (f"account:{owner_account.pk}", "accounts_holdingaccount", owner_account.pk),
        (f"project:{wind_farm.pk}", "registry_project", wind_farm.pk),
        # A block's history is its claim's: events name claims, blocks split as units move.
        (f"claim:{block.claim_id}", "tracking_block", block.pk),
        (f"retirement:{retirement.pk}", "tracking_retirement", retirement.pk),
    ]
    for subject, name, pk in pages:
        page = admin_client.get(reverse(f"admin:{name}_change", args=[pk]))
        history_url = f"{LEDGER}?subject={subject.replace(':', '%3A')}"
        assert history_url in page.content.decode(), subject

        history = admin_client.get(history_url)

        expected = set(
            LedgerEvent.objects.filter(subjects__contains=[subject]).values_list("pk", flat=True)
        )
        assert expected and _listed_ids(history) == expected, subject


def test_the_ledger_filters_by_kind_organisation_date_and_search_by_subject(
    admin_client, gec_claim, issuer, owner_account
):
    issued = LedgerEvent.objects.get(kind=LedgerEvent.Kind.UNITS_ISSUED)
    by_kind = admin_client.get(LEDGER, {"kind__exact": "units.issued"})
    by_organisation = admin_client.get(
        LEDGER, {"actor__organisation__id__exact": issuer.organisation_id}
    )
    # The admin reads the dates of its filters in the reader's zone: UTC in English.
    midnight = timezone.localtime(issued.occurred_at, dt.UTC).replace(hour=0, minute=0, second=0)
    today = admin_client.get(LEDGER, {"occurred_at__gte": str(midnight.replace(microsecond=0))})
    tomorrow = admin_client.get(
        LEDGER, {"occurred_at__gte": str((midnight + dt.timedelta(days=1)).replace(microsecond=0))}
    )
    searched = admin_client.get(LEDGER, {"q": f"claim:{gec_claim.pk}"})

    assert _listed_ids(by_kind) == {issued.pk}
    assert _listed_ids(by_organisation) == set(
        LedgerEvent.objects.filter(actor__organisation=issuer.organisation).values_list(
            "pk", flat=True
        )
    )
    assert issued.pk in _listed_ids(today) and not _listed_ids(tomorrow)
    assert _listed_ids(searched) == set(
        LedgerEvent.objects.filter(subjects__contains=[f"claim:{gec_claim.pk}"]).values_list(
            "pk", flat=True
        )
    )
    assert admin_client.get(reverse("admin:registry_ledgerevent_add")).status_code == 403


def test_refused_attempts_are_listed_and_filtered_by_rule(
    admin_client, issuer, march_record, owner_account, gec_claim
):
    with pytest.raises(DoubleClaim):
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march_record,
            account=owner_account,
            serial_range=SerialRange(10, 20),
        )
    by_r5 = record_refusal(
        actor=issuer,
        operation="unit_claim_issue",
        error=RuleViolation.of("R5", "refused by R5", record=march_record.pk),
        attempted={"record": march_record.pk},
    )
    flagged_r5 = record_flag("R5", "looked odd", actor=issuer, subjects=["claim:1"])
    record_flag("R9", "looked odd too", actor=issuer, subjects=["claim:1"])
    refused = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED)

    index = admin_client.get(reverse("admin:index"))
    listing = admin_client.get(LEDGER, {"kind__exact": "attempt.refused"})
    by_rule = admin_client.get(LEDGER, {"rule": "R5"})

    assert f"{LEDGER}?kind__exact=attempt.refused" in index.content.decode()
    assert refused.count() == 2
    assert _listed_ids(listing) == set(refused.values_list("pk", flat=True))
    assert _listed_ids(by_rule) == {by_r5.pk, flagged_r5.pk}


def test_the_index_counts_projects_waiting_for_approval(admin_client, project_owner, wind_farm):
    for name in ("Hilltop solar", "Lakeside solar"):
        project_register(
            actor=project_owner,
            owner=project_owner.organisation,
            name=name,
            province="CN-QH",
            technology="solar",
            capacity_mw=Decimal("10"),
            commissioning_date=dt.date(2024, 1, 1),
        )

    index = admin_client.get(reverse("admin:index")).content.decode()
    queue = admin_client.get(
        reverse("admin:registry_project_changelist"), {"status__exact": "pending"}
    )

    assert '<td class="pending-count">2</td>' in index
    assert f"{reverse('admin:registry_project_changelist')}?status__exact=pending" in index
    assert {project.name for project in queue.context["cl"].result_list} == {
        "Hilltop solar",
        "Lakeside solar",
    }
    assert Project.objects.filter(status=Project.Status.PENDING).count() == 2
