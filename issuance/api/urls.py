"""Routes of issuances, mechanism registrations and the rule catalogue under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from issuance.api import views

router = SimpleRouter()
router.register("issuances", views.IssuanceViewSet, basename="issuance")
router.register("registrations", views.MechanismRegistrationViewSet, basename="registration")
router.register(
    "production-submissions", views.ProductionSubmissionViewSet, basename="production-submission"
)
router.register("issuance-requests", views.IssuanceRequestViewSet, basename="issuance-request")

urlpatterns = [
    path("rules/", views.RuleCatalogueView.as_view(), name="rule-catalogue"),
    path(
        "declarations/<int:declaration_pk>/units/",
        views.DeclarationUnitsViewSet.as_view({"get": "list"}),
        name="declaration-units",
    ),
    path(
        "production-records/<int:record_pk>/corrections/",
        views.ProductionCorrectionViewSet.as_view({"get": "list", "post": "create"}),
        name="production-record-corrections",
    ),
    *router.urls,
]
