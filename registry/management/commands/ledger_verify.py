"""Recompute every event hash, Merkle root and checkpoint link; exit 1 naming the first fault."""

from django.core.management.base import BaseCommand

from registry.ledger import verify


class Command(BaseCommand):
    help = (
        "Verify the ledger from the stored rows. Exits 0 when intact, 1 naming the first altered "
        "event or checkpoint."
    )

    def handle(self, *args, **options):
        result = verify()
        if not result.ok:
            self.stderr.write(f"LEDGER VERIFICATION FAILED: {result.problem}")
            raise SystemExit(1)
        self.stdout.write(
            f"ledger intact: {result.events_checked} events, "
            f"{result.checkpoints_checked} checkpoints verified"
        )
