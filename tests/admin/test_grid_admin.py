"""Grid data and factors in the admin: the upload and the computation go through the services."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registry.services import grid_region_create
from tests.tracking.test_grid_factors import GENERATION
from tracking.accounting.models import FactorComputation, GridGeneration


def test_an_administrator_uploads_grid_data_and_computes_factors(admin_client, administrator):
    for code, province in (("north", "CN-HE"), ("east", "CN-SH")):
        grid_region_create(actor=administrator, code=code, name=code, provinces=[province])
    upload = reverse("admin:tracking_griddata_upload")
    bad = SimpleUploadedFile(
        "bad.csv", b"region,period,source,generation_mwh,emissions_t\nmars,2025,coal,1,1\n"
    )
    refused = admin_client.post(upload, {"kind": "generation", "file": bad})
    assert refused.status_code == 200 and "mars" in refused.content.decode()
    assert not GridGeneration.objects.exists()

    good = SimpleUploadedFile("generation.csv", GENERATION.encode())
    done = admin_client.post(upload, {"kind": "generation", "file": good}, follow=True)
    assert "4 rows imported for 2025-03." in done.content.decode()

    computed = admin_client.post(
        reverse("admin:tracking_gridfactors_compute"), {"period": "2025-03"}, follow=True
    )
    computation = FactorComputation.objects.get()
    assert computation.requested_by == administrator
    assert "0.720000000" in computed.content.decode()
    listing = admin_client.get(reverse("admin:tracking_factorcomputation_changelist"))
    assert listing.status_code == 200
