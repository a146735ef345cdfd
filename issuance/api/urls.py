"""Routes of issuances under /api/v1/."""

from rest_framework.routers import SimpleRouter

from issuance.api import views

router = SimpleRouter()
router.register("issuances", views.IssuanceViewSet, basename="issuance")

urlpatterns = router.urls
