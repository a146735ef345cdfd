"""Retirement certificates: the public page and the PDF, with the ledger proof."""

import io
import re
import time
import uuid

import pytest
from django.urls import reverse
from pypdf import PdfReader

from registry import ledger
from registry.models import Checkpoint, LedgerEvent
from tests.conftest import RETIREMENT_DEFAULTS
from tracking.selectors import retirement_certificate
from tracking.services import block_retire

# Each test names its own beneficiary.
RETIREMENT = {key: value for key, value in RETIREMENT_DEFAULTS.items() if key != "beneficiary_name"}


def retire(project_owner, owner_account, beneficiary, organisation=""):
    return block_retire(
        actor=project_owner,
        account=owner_account,
        mechanism="GEC",
        quantity=250,
        beneficiary_name=beneficiary,
        beneficiary_organisation=organisation,
        **RETIREMENT,
    )


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def seal_until_covered(event: LedgerEvent) -> Checkpoint:
    """Seal until a checkpoint holds the event: a seal stops at the oldest transaction still
    running in the cluster, which another session may hold open for a while."""
    for _attempt in range(600):
        ledger.seal()
        checkpoint = Checkpoint.objects.filter(
            xid_from__lte=event.txid, xid_to__gt=event.txid
        ).first()
        if checkpoint is not None:
            return checkpoint
        time.sleep(0.1)
    raise AssertionError("no checkpoint sealed the retirement event")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("beneficiary", "organisation"),
    [("河北绿钢有限公司", "河北钢铁集团"), ("Hebei Green Steel Co.", "Green Steel Holdings")],
)
def test_pdf_certificate_names_beneficiary_serial_range_and_sealing_checkpoint(
    client, project_owner, gec_claim, owner_account, beneficiary, organisation
):
    retirement = retire(project_owner, owner_account, beneficiary, organisation)
    event = LedgerEvent.objects.get(
        kind=LedgerEvent.Kind.UNITS_RETIRED, subjects__contains=[f"retirement:{retirement.pk}"]
    )
    checkpoint = seal_until_covered(event)
    certificate = retirement_certificate(public_id=retirement.public_id)
    assert certificate.checkpoint == checkpoint
    (serial_range,) = certificate.serial_ranges

    response = client.get(
        reverse("retirement-certificate", kwargs={"public_id": retirement.public_id})
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    assert beneficiary in text
    assert organisation in text
    compact = re.sub(r"\s+", "", text)
    assert serial_range in compact
    assert checkpoint.checkpoint_hash in compact
    assert event.event_hash in compact
    assert str(retirement.public_id) in compact  # the printed address of the public page


def test_unsealed_retirement_says_so_and_shows_the_event_hash(
    client, project_owner, gec_claim, owner_account
):
    retirement = retire(project_owner, owner_account, "Hebei Green Steel Co.")
    certificate = retirement_certificate(public_id=retirement.public_id)
    assert certificate.checkpoint is None  # not committed, so never sealed

    response = client.get(reverse("retirement-page", kwargs={"public_id": retirement.public_id}))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Not yet sealed" in page
    assert certificate.event_hash in page


def test_public_page_shows_the_beneficiary_without_login(
    client, project_owner, gec_claim, owner_account
):
    retirement = retire(project_owner, owner_account, "河北绿钢有限公司", "河北钢铁集团")

    response = client.get(reverse("retirement-page", kwargs={"public_id": retirement.public_id}))

    page = response.content.decode()
    assert response.status_code == 200
    assert "河北绿钢有限公司" in page
    assert "河北钢铁集团" in page
    assert "250" in page
    assert retirement_certificate(public_id=retirement.public_id).serial_ranges[0] in page
    assert owner_account.number not in page  # the holder stays anonymous


@pytest.mark.django_db
@pytest.mark.parametrize("view", ["retirement-page", "retirement-certificate"])
def test_unknown_retirement_is_404(client, view):
    response = client.get(reverse(view, kwargs={"public_id": uuid.uuid4()}))

    assert response.status_code == 404


def test_api_retirement_links_its_public_page(api, project_owner, gec_claim, owner_account):
    retirement = retire(project_owner, owner_account, "Hebei Green Steel Co.")

    response = api(None).get(f"/api/v1/retirements/{retirement.public_id}/")

    assert response.status_code == 200
    assert response.json()["certificate_url"].endswith(
        reverse("retirement-page", kwargs={"public_id": retirement.public_id})
    )
