"""Request middleware of the registry."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

# Readers of the Chinese pages are in China: they read times on Beijing time, whatever the
# registry's other readers are shown.
CHINESE_TIME_ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")


def display_time_zone(language: str | None) -> zoneinfo.ZoneInfo:
    """The zone times are shown in for readers of ``language``: Asia/Shanghai for Chinese,
    ``REGISTRY_DISPLAY_TIME_ZONE`` (UTC unless configured) for every other language."""
    if language and language.lower().startswith("zh"):
        return CHINESE_TIME_ZONE
    return zoneinfo.ZoneInfo(settings.REGISTRY_DISPLAY_TIME_ZONE)


class LanguageTimeZoneMiddleware:
    """Shows times in the zone of the request's language (``display_time_zone``).

    Placed after LocaleMiddleware, which has activated the language by then. Only rendering and
    the admin's date filters change: stored times stay UTC, and the registry's own day boundaries
    (statement periods, vintages, rule cut-offs) keep the fixed zones their code names.

    The API (/api/) is left in the registry's zone (TIME_ZONE): DRF reads a date-time sent
    without an offset in the active zone, and what a production period or filter means must not
    depend on the caller's Accept-Language. Its answers carry their offsets anyway.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            return self.get_response(request)
        timezone.activate(display_time_zone(translation.get_language()))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
