"""Import organisations' metered electricity consumption from CSV, all or nothing, each row
through electricity_consumption_record (the same checks and ledger event as the API)."""

import csv
import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import User
from registry.errors import DomainError
from tracking.accounting.services import electricity_consumption_record

COLUMNS = ("organisation", "province", "period_start", "period_end", "mwh")


def _instant(text: str, column: str, number: int) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise CommandError(f"row {number}, {column}: not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise CommandError(f"row {number}, {column}: give the offset, e.g. +08:00")
    return moment


class Command(BaseCommand):
    help = (
        "Import electricity consumption from a CSV with the columns "
        f"{', '.join(COLUMNS)} (and optionally site): ISO 8601 date-times with their offset, "
        "half-open periods. All rows or none; a refused row names its row and column."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--user", required=True, help="username of the person entering it")

    def handle(self, *args, **options):
        actor = User.objects.filter(username=options["user"]).first()
        if actor is None:
            raise CommandError(f"user: no user {options['user']}")
        try:
            text = Path(options["path"]).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"path: {error}") from None
        reader = csv.DictReader(text.splitlines())
        missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise CommandError(f"file: missing columns {', '.join(missing)}")
        count = 0
        with transaction.atomic():
            for number, row in enumerate(reader, start=2):
                try:
                    electricity_consumption_record(
                        actor=actor,
                        organisation=row["organisation"],
                        province=row["province"],
                        period_start=_instant(row["period_start"], "period_start", number),
                        period_end=_instant(row["period_end"], "period_end", number),
                        mwh=row["mwh"],
                        site=row.get("site") or "",
                    )
                except DomainError as error:
                    raise CommandError(f"row {number}, {error.field}: {error.message}") from None
                count += 1
        self.stdout.write(f"{count} consumption rows recorded")
