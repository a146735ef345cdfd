"""Retirement certificates: the public page and the PDF, with the ledger proof."""

import io
import re
import time
import uuid

import pytest
import segno
import zxingcpp
from django.urls import reverse
from PIL import Image, ImageDraw
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


def svg_dark_modules(page: str) -> set[tuple[int, int]]:
    """The dark modules (column, row) of the certificate's inline QR code, read back from its SVG
    path: segno draws each run of dark modules as a horizontal stroke at mid-row, "M x y" to start,
    "h n" for a run of n modules, "m dx dy" to move on."""
    (path,) = re.findall(r'<svg[^>]*class="qr-code".*?stroke="#000" d="([^"]+)"', page, re.S)
    x = y = 0.0
    dark = set()
    for command, args in re.findall(r"([Mmh])([-\d. ]+)", path):
        numbers = [float(n) for n in args.split()]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            dark.update((int(x) + step, int(y)) for step in range(int(numbers[0])))
            x += numbers[0]
    return dark


def pdf_dark_modules(content: bytes) -> set[tuple[int, int]]:
    """The dark modules of the QR code drawn in a certificate PDF: WeasyPrint turns each stroke
    of the SVG path into "x y m x2 y l" in module units (the scale is a separate matrix)."""
    stream = PdfReader(io.BytesIO(content)).pages[0].get_contents().get_data().decode("latin-1")
    dark = set()
    for start, row, end in re.findall(r"(\d+) (\d+)\.5 m\s+(\d+) \2\.5 l", stream):
        dark.update((column, int(row)) for column in range(int(start), int(end)))
    return dark


def decode_qr(dark: set[tuple[int, int]]) -> str:
    """What a phone would read from these modules (quiet zone included), via zxing-cpp."""
    assert dark, "no QR code found"
    size = max(max(column for column, _ in dark), max(row for _, row in dark)) + 5
    pixels = 8
    image = Image.new("L", (size * pixels, size * pixels), 255)
    draw = ImageDraw.Draw(image)
    for column, row in dark:
        draw.rectangle(
            [column * pixels, row * pixels, (column + 1) * pixels - 1, (row + 1) * pixels - 1],
            fill=0,
        )
    (barcode,) = zxingcpp.read_barcodes(image)
    return barcode.text


def segno_dark_modules(text: str) -> set[tuple[int, int]]:
    code = segno.make(text, error="m", micro=False, boost_error=False)
    return {
        (column, row)
        for row, line in enumerate(code.matrix_iter(border=4))
        for column, module in enumerate(line)
        if module
    }


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


def test_public_page_and_pdf_carry_a_qr_code_of_the_page_address(
    client, project_owner, gec_claim, owner_account
):
    retirement = retire(project_owner, owner_account, "Hebei Green Steel Co.")
    path = reverse("retirement-page", kwargs={"public_id": retirement.public_id})
    page_url = f"http://testserver{path}"

    page = client.get(path).content.decode()
    pdf = client.get(
        reverse("retirement-certificate", kwargs={"public_id": retirement.public_id})
    ).content

    assert decode_qr(svg_dark_modules(page)) == page_url
    assert svg_dark_modules(page) == segno_dark_modules(page_url)
    assert f">{page_url}</a>" in page
    assert decode_qr(pdf_dark_modules(pdf)) == page_url
    assert pdf_dark_modules(pdf) == segno_dark_modules(page_url)
    assert page_url in re.sub(r"\s+", "", pdf_text(pdf))


def test_configured_public_base_url_is_printed_encoded_and_given_by_the_api(
    client, api, settings, project_owner, gec_claim, owner_account
):
    settings.REGISTRY_PUBLIC_BASE_URL = "https://registry.example.org"
    retirement = retire(project_owner, owner_account, "Hebei Green Steel Co.")
    path = reverse("retirement-page", kwargs={"public_id": retirement.public_id})
    page_url = f"https://registry.example.org{path}"

    page = client.get(path).content.decode()
    pdf = client.get(
        reverse("retirement-certificate", kwargs={"public_id": retirement.public_id})
    ).content
    api_url = api(None).get(f"/api/v1/retirements/{retirement.public_id}/").json()

    assert decode_qr(svg_dark_modules(page)) == page_url
    assert decode_qr(pdf_dark_modules(pdf)) == page_url
    assert page_url in re.sub(r"\s+", "", pdf_text(pdf))
    assert api_url["certificate_url"] == page_url
