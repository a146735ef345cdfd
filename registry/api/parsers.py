"""Request body parsing."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, parsers


def contains_nul(value: Any) -> bool:
    """Whether any string in a parsed JSON document (keys too) contains U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(contains_nul(item) for item in value)
    return False


class JSONParser(parsers.JSONParser):
    """JSON without NUL characters, refused as a whole with 400.

    PostgreSQL text cannot hold U+0000, and the driver refuses a query parameter holding one
    before the database sees it: a body field looked up as it is (a project code, an account
    number) would fail there with a server error instead of a validation error.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if contains_nul(data):
            raise exceptions.ParseError(_("JSON strings may not contain NUL (U+0000) characters."))
        return data
