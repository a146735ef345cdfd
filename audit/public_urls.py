"""The public transparency page, /public/ (no login)."""

from django.urls import path

from audit import views

urlpatterns = [
    path("", views.transparency_page, name="public-transparency"),
    path("verify/", views.serial_search, name="public-verify"),
    path("checkpoints/", views.checkpoints_page, name="public-checkpoints"),
    path("checkpoints.json", views.checkpoints_download, name="public-checkpoints-json"),
]
