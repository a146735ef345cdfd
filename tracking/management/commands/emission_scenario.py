"""Compute an emission accounting scenario from a JSON file and print the figures as JSON.

Reads nothing from the registry and writes nothing: a wrapper of the pure module
``tracking.accounting.scenario`` (formulas in its docstring and docs/architecture.md).
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext

from tracking.accounting import scenario

#: Exit status for input the calculator refuses (unreadable file, bad JSON, bad field).
BAD_INPUT = 2


def translated(error: scenario.ScenarioError) -> str:
    """The refusal in the active language (the pure module only marks its messages)."""
    message = gettext(error.template)
    return message % error.params if error.params else message


def _refuse(message: str) -> CommandError:
    return CommandError(message, returncode=BAD_INPUT)


class Command(BaseCommand):
    help = (
        "Emission scenario (docs/domain.md): regional and combined adjusted factors and "
        "each consumer's emissions and green reduction under schemes 1-4, as JSON on stdout. "
        "Exits 2 naming the field when the input is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the scenario as JSON; - reads standard input")

    def handle(self, *args, **options):
        name = options["file"]
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise _refuse(
                gettext("%(file)s cannot be read: %(error)s") % {"file": name, "error": error}
            ) from None
        try:
            # Decimal keeps every digit written in the file (a float would round 0.1).
            document = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as error:
            raise _refuse(
                gettext("%(file)s is not valid JSON: %(error)s (line %(line)s, column %(column)s)")
                % {"file": name, "error": error.msg, "line": error.lineno, "column": error.colno}
            ) from None
        except ValueError as error:  # an integer too long to convert
            raise _refuse(
                gettext("%(file)s is not valid JSON: %(error)s") % {"file": name, "error": error}
            ) from None
        try:
            result = scenario.compute(scenario.parse(document))
        except scenario.ScenarioError as error:
            # Only punctuation joins the parts: each is translated already.
            field = error.field or gettext("the document")
            raise _refuse(f"{name}: {field}: {translated(error)}") from None
        self.stdout.write(json.dumps(scenario.as_json(result), indent=2, ensure_ascii=False))
