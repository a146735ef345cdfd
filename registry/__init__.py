"""The registry project package and its core (mechanisms, projects, serials, claims, ledger)."""

from registry.celery import app as celery_app

__all__ = ("celery_app",)
