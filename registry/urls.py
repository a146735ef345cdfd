"""URL configuration of the registry.

The API of each app is included by dotted name, so this module (in the lowest layer) imports
none of the apps above it.
"""

from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from registry.health import health_view

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("registry.api.urls")),
    path("", include("tracking.api.urls")),
    path("", include("issuance.api.urls")),
    path("", include("compliance.api.urls")),
    path("", include("interop.api.urls")),
    path("", include("audit.api.urls")),
]

admin.site.site_header = _("Environmental attribute registry")
admin.site.site_title = _("Environmental attribute registry")
admin.site.index_title = _("Registry administration")

urlpatterns = [
    path("admin/rules/", include("issuance.admin_urls")),
    path("admin/", admin.site.urls),
    path("health/", health_view(), name="health"),
    path("public/", include("audit.public_urls")),
    # Public retirement pages and certificates, holders' statements.
    path("", include("tracking.urls")),
    # The language switch of the public pages (set_language: POST, then back to ``next``).
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include(api_v1)),
    # Log-in pages of the browsable API (session authentication with CSRF).
    path("api/auth/", include("rest_framework.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]

# Errors outside a view (no route matched, an unhandled exception) under /api/ as problem+json.
handler404 = "registry.api.problems.not_found"
handler500 = "registry.api.problems.server_error"
