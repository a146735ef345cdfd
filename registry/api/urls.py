"""Routes of the core resources under /api/v1/."""

from rest_framework.routers import SimpleRouter

from registry.api import views

router = SimpleRouter()
router.register("mechanisms", views.MechanismViewSet, basename="mechanism")
router.register("projects", views.ProjectViewSet, basename="project")
router.register("streams", views.StreamViewSet, basename="stream")
router.register("production-records", views.ProductionRecordViewSet, basename="production-record")
router.register("declarations", views.DeclarationViewSet, basename="declaration")
router.register("ledger/checkpoints", views.CheckpointViewSet, basename="checkpoint")
router.register("ledger", views.LedgerEventViewSet, basename="ledger-event")

urlpatterns = router.urls
