"""Compute the grid factors of a period now and print them (tracking.accounting.services)."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from registry.errors import DomainError
from tracking.accounting.services import grid_factors_compute, parse_period


class Command(BaseCommand):
    help = (
        "Compute every grid region's average and residual factor (t/MWh) for a year (2025) or a "
        "month (2025-03) from the grid data and the registry's claims, and print them."
    )

    def add_arguments(self, parser):
        parser.add_argument("period", help="2025 or 2025-03")
        parser.add_argument("--user", required=True, help="username of a registry administrator")

    def handle(self, *args, **options):
        actor = User.objects.filter(username=options["user"]).first()
        if actor is None:
            raise CommandError(f"user: no user {options['user']}")
        try:
            year, month = parse_period(options["period"])
            computation = grid_factors_compute(actor=actor, year=year, month=month)
        except DomainError as error:
            raise CommandError(f"{error.field}: {error.message}") from None
        checkpoint = computation.checkpoint
        self.stdout.write(
            f"computation {computation.pk} of {computation.period_label}, last ledger event "
            f"{computation.last_event_id}, checkpoint "
            f"{checkpoint.sequence if checkpoint else 'none'}"
        )
        for factor in computation.factors.select_related("region").order_by("region__code"):
            residual = factor.residual_factor if factor.residual_factor is not None else "-"
            self.stdout.write(
                f"{factor.region.code}\taverage {factor.average_factor}\tresidual {residual}\t"
                f"claimed {factor.claimed_mwh} MWh\tcounted twice {factor.double_counted_t} t"
            )
