"""Pages of emission accounting: the public grid factors and an organisation's scope 2 report,
each figure with the formula behind it."""

from __future__ import annotations

from itertools import groupby

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from registry.access import visible
from registry.documents import DOCUMENT_FONT_CSS
from tracking.accounting.models import GreenPowerSettlement, Scope2Report
from tracking.accounting.selectors import published_factors


@require_GET
def grid_factors_page(request: HttpRequest) -> HttpResponse:
    """Anyone: the newest computation of each period, region by region, with the grid figures
    and the registry's claimed MWh it used and the checkpoint it saw."""
    periods = [
        {"computation": factors[0].computation, "factors": factors}
        for _period, rows in groupby(published_factors(), key=lambda factor: factor.computation_id)
        for factors in [list(rows)]
    ]
    return render(request, "tracking/grid_factors.html", {"periods": periods})


@require_GET
def scope2_report_page(request: HttpRequest, report_id: int) -> HttpResponse:
    """A scope 2 report with the formula behind each figure, for members of its organisation,
    administrators and auditors (others: 404; anonymous visitors are sent to log in)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("rest_framework:login"))
    report = (
        visible(request.user, "scope2_report", Scope2Report.objects.filter(pk=report_id))
        .select_related("organisation", "computation__checkpoint")
        .first()
    )
    if report is None:
        raise Http404(_("No scope 2 report has this id."))
    certificates = report.certificates.select_related("retirement__mechanism", "region")
    return render(
        request,
        "tracking/scope2_report.html",
        {"report": report, "certificates": certificates, "font_css": DOCUMENT_FONT_CSS},
    )


@require_GET
def green_power_settlement_page(request: HttpRequest, month: str) -> HttpResponse:
    """The green power settlements of a month ("YYYY-MM") that the reader may see (the parties of
    each contract, administrators, auditors), each figure with the rule that gives it."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("rest_framework:login"))
    year, number = (int(part) for part in month.split("-"))
    if not 1 <= number <= 12:
        raise Http404(_("No such month."))
    settlements = visible(
        request.user,
        "green_power_settlement",
        GreenPowerSettlement.objects.filter(month=year * 100 + number),
    ).select_related("contract__generator_project", "contract__buyer", "transfer")
    return render(
        request,
        "tracking/green_power_settlement.html",
        {
            "month": f"{year:04d}-{number:02d}",
            "settlements": settlements.order_by("contract__code"),
            "font_css": DOCUMENT_FONT_CSS,
        },
    )
