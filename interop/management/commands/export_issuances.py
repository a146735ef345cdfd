"""Write this registry's live issuances in the canonical interchange format (docs/interop.md)."""

import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from interop import formats, selectors


class Command(BaseCommand):
    help = "Export live issuances as canonical CSV or JSON (stdout or --output)."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["csv", "json"], default="csv")
        parser.add_argument("--mechanism")
        parser.add_argument("--vintage", type=int, help="YYYYMM")
        parser.add_argument("--project", help="project code")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, **options):
        claims = selectors.issuances_for_export(
            mechanism=options["mechanism"], vintage=options["vintage"], project=options["project"]
        )
        rows = selectors.export_rows(claims, source=settings.REGISTRY_INTEROP_SOURCE)
        target = (
            open(options["output"], "w", encoding="utf-8", newline="")  # noqa: SIM115
            if options["output"]
            else self.stdout
        )
        try:
            count = 0
            if options["format"] == "csv":
                target.write(formats.csv_header())
                for row in rows:
                    target.write(formats.write_csv_line(row))
                    count += 1
            else:
                target.write("[")
                for row in rows:
                    target.write((",\n" if count else "") + json.dumps(row, ensure_ascii=False))
                    count += 1
                target.write("]\n")
        finally:
            if options["output"]:
                target.close()
        sys.stderr.write(f"{count} issuances exported\n")
