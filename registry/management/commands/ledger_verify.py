"""Recompute every event hash, Merkle root and checkpoint link; exit 1 naming the first fault.

With ``--against FILE``, also compare the checkpoints with a saved copy of the published list
(``GET /api/v1/ledger/checkpoints/`` or the public page's JSON download): a checkpoint of the
copy that is missing or differs fails the verification, which the chain alone cannot reveal for
the newest one.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.ledger import verify, verify_against


def _saved_checkpoints(path: str) -> list:
    """The list in the file: a JSON array, or an object holding it under ``checkpoints`` (the
    public download) or ``results`` (one page of the API)."""
    try:
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CommandError(f"cannot read the saved checkpoints {path}: {error}") from error
    if isinstance(saved, dict):
        saved = saved.get("checkpoints", saved.get("results"))
    if not isinstance(saved, list):
        raise CommandError(f"{path} holds no list of checkpoints")
    return saved


class Command(BaseCommand):
    help = (
        "Verify the ledger from the stored rows, and with --against FILE against a saved copy "
        "of the published checkpoints. Exits 0 when intact, 1 naming the first altered event "
        "or the missing or differing checkpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--against",
            metavar="FILE",
            help="a saved copy of the published checkpoint list (JSON)",
        )

    def handle(self, *args, **options):
        saved = _saved_checkpoints(options["against"]) if options["against"] else None
        result = verify()
        if result.ok and saved is not None:
            compared = verify_against(saved)
            if not compared.ok:
                result = compared
        if not result.ok:
            self.stderr.write(f"LEDGER VERIFICATION FAILED: {result.problem}")
            raise SystemExit(1)
        self.stdout.write(
            f"ledger intact: {result.events_checked} events, "
            f"{result.checkpoints_checked} checkpoints verified"
            + (f"; {len(saved)} saved checkpoints match" if saved is not None else "")
        )
