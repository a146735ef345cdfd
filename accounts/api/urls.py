"""Routes of authentication, the caller, organisations and accounts under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api import views

router = SimpleRouter()
router.register("organizations", views.OrganisationViewSet, basename="organization")
router.register("accounts", views.HoldingAccountViewSet, basename="account")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/logout-all/", views.LogoutAllView.as_view(), name="auth-logout-all"),
    path("users/me/", views.MeView.as_view(), name="user-me"),
    *router.urls,
]
