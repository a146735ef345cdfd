"""Requesting a uniqueness report and following its progress."""

urlpatterns: list = []
