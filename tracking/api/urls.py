"""Routes of holdings and public verification under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from tracking.api import scenarios, views

router = SimpleRouter()
router.register("blocks", views.BlockViewSet, basename="block")
router.register("transfers", views.TransferViewSet, basename="transfer")
router.register("retirements", views.RetirementViewSet, basename="retirement")
router.register("cancellations", views.CancellationViewSet, basename="cancellation")
router.register(
    "corresponding-adjustments",
    views.CorrespondingAdjustmentViewSet,
    basename="corresponding-adjustment",
)
router.register("neutrality-events", views.NeutralityEventViewSet, basename="neutrality-event")
# Issue 7: emission accounting.
router.register("accounting/scenarios", scenarios.ScenarioViewSet, basename="accounting-scenario")

urlpatterns = [
    path("verify/<str:serial>/", views.VerifyView.as_view(), name="verify"),
    *router.urls,
]
