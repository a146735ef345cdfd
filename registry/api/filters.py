"""Filters shared by the API's list views."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.db.backends.postgresql.psycopg_any import NumericRange
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField

from registry import serials as serial_numbers
from registry.errors import DomainError


def serial_range_overlap(value: str) -> Q:
    """Rows (claims, blocks) of the stream a serial or serial range names whose serials overlap
    it. A malformed or mistyped serial is a validation error on the ``serial`` parameter."""
    try:
        parsed = serial_numbers.parse_range(value)
    except serial_numbers.SerialError as error:
        raise DomainError(error.message, code=error.code, field="serial") from None
    return Q(
        stream__project__country=parsed.country,
        stream__project__code=parsed.project_code,
        stream__unit_kind=parsed.unit_kind,
        serials__overlap=NumericRange(parsed.serial_range.lower, parsed.serial_range.upper, "[)"),
    )


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, given to the database in UTC.

    Python accepts UTC offsets up to 23:59 and PostgreSQL only up to 15:59, so an offset such as
    ``-21:09`` used as is fails in the database (a 500); in UTC every offset is fine. A moment
    that UTC cannot represent (``0001-01-01T00:00+01:00``) is a validation error.
    """

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError(_("Date-time out of range."), code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
