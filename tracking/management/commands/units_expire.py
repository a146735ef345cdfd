"""Expire units past their mechanism's validity now (the beat task does it hourly)."""

from django.core.management.base import BaseCommand

from tracking.services import units_expire


class Command(BaseCommand):
    help = "Expire active and frozen units whose validity has ended."

    def handle(self, *args, **options):
        self.stdout.write(f"{units_expire()} units expired")
