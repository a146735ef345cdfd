"""Import a file of another registry's records (docs/interop.md) as an administrator."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from interop import services
from interop.models import ImportBatch
from registry.errors import DomainError


class Command(BaseCommand):
    help = "Queue (or with --now, run here) the import of a CSV or JSON file of external records."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--layout", choices=ImportBatch.Layout.values, default="canonical")
        parser.add_argument("--format", choices=ImportBatch.Format.values)
        parser.add_argument("--user", required=True, help="username of a registry administrator")
        parser.add_argument("--now", action="store_true", help="run in this process, no worker")

    def handle(self, *args, **options):
        path = Path(options["path"])
        file_format = options["format"] or ("json" if path.suffix.lower() == ".json" else "csv")
        actor = User.objects.filter(username=options["user"]).first()
        if actor is None:
            raise CommandError(f"no user {options['user']}")
        try:
            batch = services.import_batch_create(
                actor=actor,
                layout=options["layout"],
                file_format=file_format,
                content=path.read_bytes(),
                filename=path.name,
                queue=not options["now"],
            )
        except DomainError as error:
            raise CommandError(str(error.message)) from None
        if options["now"]:
            batch = services.import_batch_run(batch_id=batch.pk)
        self.stdout.write(
            f"import {batch.pk}: {batch.status}, {batch.processed}/{batch.total} rows, "
            f"{batch.imported_count} imported, {batch.flagged_count} flagged, "
            f"{batch.duplicate_count} already imported, {batch.invalid_count} invalid"
        )
