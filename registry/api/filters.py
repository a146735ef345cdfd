"""Filters shared by the API's list views."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField


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
