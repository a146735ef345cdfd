"""Routes of imports from other registries and of the issuance export under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from interop.api import views

router = SimpleRouter()
router.register("imports", views.ImportBatchViewSet, basename="import-batch")
router.register("external-records", views.ExternalRecordViewSet, basename="external-record")

urlpatterns = [
    path("exports/issuances/", views.IssuanceExportView.as_view(), name="export-issuances"),
    *router.urls,
]
