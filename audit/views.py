"""The public transparency page, /public/: what the registry holds, for anyone, without login.

Totals come from ``audit.selectors.public_unit_totals`` (every block of the registry, cached a
minute); the search box sends a serial number to the public verification of that unit.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from audit.places import province_name
from audit.selectors import (
    PUBLIC_TOTALS_CACHE_SECONDS,
    cached,
    mechanism_names,
    public_unit_totals,
)
from registry import serials as serial_numbers
from registry.errors import DomainError
from registry.ledger import published_checkpoints
from registry.models import Checkpoint, UnitKind

UNIT_ORDER = ("E", "C", "T")
SERIAL_EXAMPLE = "CN-P7K2Q9-E-202503-000000001001-47"


class SerialSearchForm(forms.Form):
    """One serial number, checked as a serial (format and check number) and looked up."""

    serial = forms.CharField(
        label=_("Serial number"),
        max_length=80,
        error_messages={"required": _("Type a serial number to verify.")},
    )

    def clean_serial(self) -> str:
        from tracking.selectors import unit_verify

        text = self.cleaned_data["serial"]
        try:
            serial = serial_numbers.Serial.parse(text)
        except serial_numbers.SerialError as error:
            if error.code == "bad_check_number":
                message = _(
                    "The check number of %(serial)s does not match the rest of it: the serial "
                    "is mistyped."
                )
            else:
                message = _("%(serial)s is not a serial number such as %(example)s.")
            raise forms.ValidationError(
                message % {"serial": text, "example": SERIAL_EXAMPLE}, code=error.code
            ) from None
        try:
            unit_verify(str(serial))
        except DomainError as error:  # a well-formed serial of no unit
            raise forms.ValidationError(str(error.message), code=error.code) from None
        return str(serial)


def _mechanism_label(code: str, names: dict[str, tuple[str, str]]) -> str:
    name, name_zh = names.get(code, (code, ""))
    if (get_language() or "").startswith("zh") and name_zh:
        return name_zh
    return name or code


def _sections(totals: dict[str, Any]) -> list[dict[str, Any]]:
    """One section per unit kind (MWh, tCO2e, tce), rows labelled in the active language."""
    names = mechanism_names()
    units = sorted(
        {row["unit"] for row in totals["by_unit"]},
        key=lambda unit: (UNIT_ORDER.index(unit) if unit in UNIT_ORDER else 99, unit),
    )
    sections = []
    for unit in units:
        # ``key``: the code in the data; ``label``: what a person reads.
        mechanisms = [
            {**row, "key": row["mechanism"], "label": _mechanism_label(row["mechanism"], names)}
            for row in totals["by_mechanism"]
            if row["unit"] == unit
        ]
        provinces = [
            {**row, "key": row["province"], "label": province_name(row["province"])}
            for row in totals["by_province"]
            if row["unit"] == unit
        ]
        months = [
            {**row, "key": row["month"], "label": row["month"]}
            for row in totals["by_month"]
            if row["unit"] == unit
        ]
        sections.append(
            {
                "unit": unit,
                "unit_label": UnitKind(unit).label if unit in UnitKind.values else unit,
                "total": next(row for row in totals["by_unit"] if row["unit"] == unit),
                "mechanisms": mechanisms,
                "provinces": provinces,
                "months": months,
            }
        )
    return sections


def _draw(sections: list[dict[str, Any]]) -> dict[str, str]:
    from audit import charts  # matplotlib loads only when a chart is drawn, not at start-up

    drawn = {}
    for section in sections:
        unit, label = section["unit"], str(section["unit_label"])
        for key, title in (
            ("mechanisms", _("Units per mechanism (%(unit)s)")),
            ("provinces", _("Units per province (%(unit)s)")),
            ("months", _("Units per vintage month (%(unit)s)")),
        ):
            drawn[f"{unit}-{key}"] = charts.unit_totals_svg(
                section[key],
                key="label",
                title=str(title) % {"unit": label},
                name=f"public-{unit}-{key}",
            )
    return drawn


def _page(request: HttpRequest, form: SerialSearchForm, *, status: int = 200) -> HttpResponse:
    totals = public_unit_totals()
    sections = _sections(totals)
    # Charts are the costly part of the page: drawn once per language and set of totals.
    computed_at = totals["computed_at"]
    drawn = cached(
        f"audit:public-charts:{get_language()}:{computed_at.timestamp()}",
        PUBLIC_TOTALS_CACHE_SECONDS,
        lambda: _draw(sections),
    )
    for section in sections:
        for key in ("mechanisms", "provinces", "months"):
            section[f"{key}_chart"] = drawn.get(f"{section['unit']}-{key}", "")
    context = {
        "form": form,
        "sections": sections,
        "computed_at": computed_at,
        "cache_seconds": PUBLIC_TOTALS_CACHE_SECONDS,
        "serial_example": SERIAL_EXAMPLE,
    }
    return render(request, "audit/public.html", context, status=status)


@require_GET
def transparency_page(request: HttpRequest) -> HttpResponse:
    """Totals issued, retired and cancelled per mechanism, province and vintage month, with
    charts and the search box; no login."""
    return _page(request, SerialSearchForm())


@require_GET
def serial_search(request: HttpRequest) -> HttpResponse:
    """The search box: a serial of an existing unit redirects to its public verification
    (/api/v1/verify/{serial}/); an empty, malformed or unknown serial shows the page again
    with the reason (400)."""
    form = SerialSearchForm(request.GET)
    if form.is_valid():
        return redirect(reverse("verify", kwargs={"serial": form.cleaned_data["serial"]}))
    return _page(request, form, status=400)


CHECKPOINTS_PER_PAGE = 50


@require_GET
def checkpoints_page(request: HttpRequest) -> HttpResponse:
    """The sealed checkpoints, newest first, 50 a page, with the download of the whole list;
    no login. Anyone who keeps a copy can later run ``ledger_verify --against`` with it."""
    paginator = Paginator(Checkpoint.objects.order_by("-sequence"), CHECKPOINTS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "audit/checkpoints.html", {"page": page})


@require_GET
def checkpoints_download(request: HttpRequest) -> StreamingHttpResponse:
    """Every sealed checkpoint as JSON, oldest first, streamed (one checkpoint a minute makes
    half a million a year): ``{"checkpoints": [...]}``, the file ``ledger_verify --against``
    reads."""

    def chunks():
        yield '{"checkpoints": ['
        for index, checkpoint in enumerate(published_checkpoints()):
            yield ("," if index else "") + "\n" + json.dumps(checkpoint, sort_keys=True)
        yield "\n]}\n"

    response = StreamingHttpResponse(chunks(), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="ledger-checkpoints.json"'
    return response
