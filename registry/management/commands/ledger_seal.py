"""Seal committed ledger events into a checkpoint (the beat task does the same every minute)."""

from django.core.management.base import BaseCommand

from registry.ledger import seal


class Command(BaseCommand):
    help = "Seal every committed, unsealed ledger event into a new checkpoint."

    def handle(self, *args, **options):
        checkpoint = seal()
        if checkpoint is None:
            self.stdout.write("nothing to seal (no new committed events, or a sealer is busy)")
            return
        self.stdout.write(
            f"checkpoint {checkpoint.sequence}: {checkpoint.event_count} events, "
            f"root {checkpoint.merkle_root}, hash {checkpoint.checkpoint_hash}"
        )
