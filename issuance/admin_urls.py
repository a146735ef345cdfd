"""The rule catalogue page inside the admin (included before the admin's own URLs)."""

from django.contrib import admin
from django.urls import path

from issuance.admin import rule_catalogue_view

urlpatterns = [
    path("", admin.site.admin_view(rule_catalogue_view), name="rule-catalogue-admin"),
]
