"""Routes of holdings and public verification under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from tracking.api import green_power, grid, scenarios, scope2, views

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
# Green power settlement
router.register(
    "accounting/contracts", green_power.GreenPowerContractViewSet, basename="green-power-contract"
)
router.register(
    "accounting/consumption",
    green_power.ElectricityConsumptionViewSet,
    basename="electricity-consumption",
)
router.register(
    "accounting/settlements",
    green_power.GreenPowerSettlementViewSet,
    basename="green-power-settlement",
)
router.register("accounting/scope2-reports", scope2.Scope2ReportViewSet, basename="scope2-report")
# Emission accounting.
router.register("accounting/scenarios", scenarios.ScenarioViewSet, basename="accounting-scenario")

urlpatterns = [
    path("verify/<str:serial>/", views.VerifyView.as_view(), name="verify"),
    path("grid-factors/", grid.GridFactorsView.as_view(), name="grid-factors"),
    path(
        "grid-factors/compute/", grid.GridFactorComputeView.as_view(), name="grid-factors-compute"
    ),
    *router.urls,
]
