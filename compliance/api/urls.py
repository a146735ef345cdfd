"""Routes of ETS compliance under /api/v1/."""

from rest_framework.routers import SimpleRouter

from compliance.api import views

router = SimpleRouter()
router.register("compliance-schemes", views.ComplianceSchemeViewSet, basename="compliance-scheme")
router.register("covered-entities", views.CoveredEntityViewSet, basename="covered-entity")
router.register("verified-emissions", views.VerifiedEmissionViewSet, basename="verified-emission")
router.register("allowance-allocations", views.AllocationViewSet, basename="allowance-allocation")
router.register("surrenders", views.SurrenderViewSet, basename="surrender")

urlpatterns = router.urls
