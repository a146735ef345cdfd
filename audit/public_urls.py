"""The public transparency page, /public/ (no login)."""

from django.urls import path

from audit import views

urlpatterns = [
    path("", views.transparency_page, name="public-transparency"),
    path("verify/", views.serial_search, name="public-verify"),
]
