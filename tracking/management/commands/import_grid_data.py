"""Import grid statistics from CSV as an administrator (tracking.accounting.services)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from registry.errors import DomainError
from tracking.accounting.services import EXCHANGE_COLUMNS, GENERATION_COLUMNS, grid_data_import


class Command(BaseCommand):
    help = (
        "Import grid data, all or nothing: 'generation' files have the columns "
        f"{', '.join(GENERATION_COLUMNS)}; 'exchanges' files {', '.join(EXCHANGE_COLUMNS)}. "
        "A file replaces the data of each region and period (generation) or period (exchanges) "
        "it names."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["generation", "exchanges"])
        parser.add_argument("path")
        parser.add_argument("--user", required=True, help="username of a registry administrator")

    def handle(self, *args, **options):
        actor = User.objects.filter(username=options["user"]).first()
        if actor is None:
            raise CommandError(f"user: no user {options['user']}")
        try:
            content = Path(options["path"]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"path: {error}") from None
        try:
            result = grid_data_import(actor=actor, kind=options["kind"], content=content)
        except DomainError as error:
            raise CommandError(f"{error.field}: {error.message}") from None
        self.stdout.write(
            f"{result.rows} {result.kind} rows for {', '.join(result.periods)} "
            f"(sha256 {result.content_sha256})"
        )
