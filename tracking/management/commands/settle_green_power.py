"""Compute a month's green power settlement from a JSON file and print it; nothing is written.

Input and output are described in tracking.accounting.settlement. Exit codes: 0 the settlement
was printed; 2 bad input (the message, naming the field, goes to stderr); 1 the file could not
be read.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from tracking.accounting.settlement import (
    SettlementError,
    parse_settlement_json,
    settle,
    settlement_output,
)

BAD_INPUT = 2


class Command(BaseCommand):
    help = (
        "Settle one month of green power contracts (docs/domain.md) from FILE.json and "
        "print the settled whole MWh and carried remainder of each contract as JSON; moves "
        "nothing. '-' reads standard input."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help=_("the settlement input as JSON, or - for stdin"))

    def handle(self, *args, **options):
        path = options["file"]
        try:
            if path == "-":
                text = sys.stdin.buffer.read()
            else:
                with open(path, "rb") as handle:
                    text = handle.read()
        except OSError as error:
            raise CommandError(
                _("Cannot read %(path)s: %(error)s") % {"path": path, "error": error.strerror}
            ) from None
        try:
            results = settle(parse_settlement_json(text))
        except SettlementError as error:
            raise CommandError(
                _("Bad input at %(field)s: %(message)s")
                % {"field": error.field or "$", "message": error.message},
                returncode=BAD_INPUT,
            ) from None
        self.stdout.write(json.dumps(settlement_output(results), indent=2, ensure_ascii=False))
