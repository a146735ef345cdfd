"""URL configuration of the registry."""

from django.contrib import admin
from django.urls import path

from registry.health import health_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health_view(), name="health"),
]
