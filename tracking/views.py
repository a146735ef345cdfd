"""Plain pages of holdings: a retirement's public page and PDF certificate (no login), and a
holder's statement of an account (page, CSV, PDF) for those who may see the account."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.models import HoldingAccount
from registry.access import visible
from registry.documents import DOCUMENT_FONT_CSS, html_to_pdf, public_url, qr_code_svg
from registry.errors import DomainError, NotFound
from tracking.models import Retirement
from tracking.selectors import (
    RetirementCertificate,
    Statement,
    account_statement,
    retirement_certificate,
)

# Statement periods run from midnight to midnight in the registry's zone, whoever reads them, so
# the same query gives the same statement in every language; times are shown in the reader's zone.
REGISTRY_TIME_ZONE = zoneinfo.ZoneInfo(settings.TIME_ZONE)
CHINESE = "zh-hans"


def _both(label: Any) -> dict[str, str]:
    """A label in English and in Simplified Chinese (empty while no translation differs)."""
    with translation.override("en"):
        english = str(label)
    with translation.override(CHINESE):
        chinese = str(label)
    return {"en": english, "zh": chinese if chinese != english else ""}


def _time_text(moment: dt.datetime | None) -> str:
    """``moment`` in the reader's zone (Asia/Shanghai for Chinese, registry.middleware), with
    its UTC offset printed so that a downloaded document is unambiguous."""
    if moment is None:
        return ""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S UTC%z")


def _certificate_context(request: HttpRequest, certificate: RetirementCertificate) -> dict:
    retirement = certificate.retirement
    mechanism = retirement.mechanism
    purpose = Retirement.Purpose(retirement.purpose).label if retirement.purpose else ""
    purpose_text = _both(purpose)
    checkpoint = certificate.checkpoint
    if checkpoint is not None:
        seal = [
            _("Checkpoint %(sequence)s, sealed %(time)s")
            % {"sequence": checkpoint.sequence, "time": _time_text(checkpoint.sealed_at)},
            checkpoint.checkpoint_hash,
        ]
    else:
        seal = [_("Not yet sealed: the next ledger checkpoint will seal this event.")]
    rows = [
        (_("Beneficiary"), [retirement.beneficiary_name], ""),
        (_("Beneficiary organisation"), [retirement.beneficiary_organisation or "—"], ""),
        (_("Purpose"), [" / ".join(filter(None, purpose_text.values()))], ""),
        (
            _("Claim period"),
            [f"{retirement.claim_period_start:%Y-%m-%d} – {retirement.claim_period_end:%Y-%m-%d}"],
            "",
        ),
        (_("Location"), [retirement.location], ""),
        (
            _("Mechanism"),
            [" / ".join(filter(None, [mechanism.code, mechanism.name, mechanism.name_zh]))],
            "",
        ),
        (_("Quantity"), [f"{retirement.quantity:,}"], ""),
        (_("Serial ranges"), certificate.serial_ranges, "serial"),
        (
            _("Project"),
            [f"{project.code} {project.name}" for project in certificate.projects],
            "",
        ),
        (_("Issuance (claim)"), [", ".join(str(pk) for pk in certificate.claim_ids)], ""),
        (_("Retired at"), [_time_text(retirement.created_at)], ""),
        (_("Ledger event hash"), [certificate.event_hash or "—"], "hash"),
        (_("Ledger checkpoint"), seal, "hash" if checkpoint else ""),
        (_("Certificate id"), [str(retirement.public_id)], "hash"),
    ]
    page_url = public_url(
        reverse("retirement-page", kwargs={"public_id": retirement.public_id}), request=request
    )
    return {
        "retirement": retirement,
        "font_css": DOCUMENT_FONT_CSS,
        "labels": {
            "title": _both(_("Retirement certificate")),
            "statement": _both(
                _(
                    "The units below were retired in this registry for the beneficiary named "
                    "here and can never be transferred or used again."
                )
            ),
            "verify": _both(_("Verify this certificate at")),
        },
        "rows": [
            {"label": _both(label), "values": [str(value) for value in values], "css": css}
            for label, values, css in rows
        ],
        "page_url": page_url,
        "page_qr_svg": qr_code_svg(page_url),
        "pdf_url": reverse("retirement-certificate", kwargs={"public_id": retirement.public_id}),
    }


def _certificate_or_404(public_id) -> RetirementCertificate:
    try:
        return retirement_certificate(public_id=public_id)
    except NotFound:
        raise Http404(_("No retirement has this id.")) from None


@require_GET
def retirement_page(request: HttpRequest, public_id) -> HttpResponse:
    """The permanent public page of a retirement, for anyone (no login): what was retired for
    whom, and the ledger event and checkpoint that prove it. Unknown id: 404."""
    certificate = _certificate_or_404(public_id)
    return render(
        request, "tracking/retirement_certificate.html", _certificate_context(request, certificate)
    )


@require_GET
def retirement_certificate_pdf(request: HttpRequest, public_id) -> HttpResponse:
    """The retirement certificate as PDF, in English and Simplified Chinese on one page, Chinese
    set in the embedded CJK font, with the address of the public page. Unknown id: 404."""
    certificate = _certificate_or_404(public_id)
    context = _certificate_context(request, certificate)
    html = render_to_string(
        "tracking/retirement_certificate.html", {**context, "for_print": True}, request=request
    )
    response = HttpResponse(
        html_to_pdf(html, base_url=request.build_absolute_uri("/")),
        content_type="application/pdf",
    )
    response["Content-Disposition"] = (
        f'inline; filename="retirement-{certificate.retirement.public_id}.pdf"'
    )
    return response


# --- statements -------------------------------------------------------------------------------


class BadStatementQuery(DomainError):
    code = "invalid_date"


def _date_param(request: HttpRequest, field: str, default: dt.date) -> dt.date:
    text = request.GET.get(field, "").strip()
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadStatementQuery(
            _("%(value)s is not a date such as 2025-01-01.") % {"value": text[:40]}, field=field
        ) from None


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=REGISTRY_TIME_ZONE)


def _statement_lines(statement: Statement) -> list[dict[str, Any]]:
    """The period's movements in time order, each with the running balance of its mechanism."""
    running = {balance.mechanism: balance.opening for balance in statement.balances}
    lines = []
    for movement in statement.movements:
        running[movement.mechanism] += movement.signed_quantity
        incoming = movement.signed_quantity > 0
        lines.append(
            {
                "time": movement.occurred_at,
                "time_text": _time_text(movement.occurred_at),
                "kind": movement.kind,
                "label": movement.kind_label,
                "mechanism": movement.mechanism,
                "units_in": movement.quantity if incoming else None,
                "units_out": None if incoming else movement.quantity,
                "balance": running[movement.mechanism],
                "reference": movement.reference,
                "counterparty": movement.counterparty,
            }
        )
    return lines


def _statement_csv(statement: Statement, lines: list[dict[str, Any]]) -> str:
    """One table: an opening row per mechanism, the movements, a closing row per mechanism."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "time",
            "entry",
            "mechanism",
            "units_in",
            "units_out",
            "balance",
            "reference",
            "counterparty",
        ]
    )
    start = statement.period_start.isoformat()
    end = statement.period_end.isoformat()
    for balance in statement.balances:
        writer.writerow([start, "opening", balance.mechanism, "", "", balance.opening, "", ""])
    for line in lines:
        writer.writerow(
            [
                line["time"].isoformat(),
                line["kind"],
                line["mechanism"],
                line["units_in"] if line["units_in"] is not None else "",
                line["units_out"] if line["units_out"] is not None else "",
                line["balance"],
                line["reference"],
                line["counterparty"],
            ]
        )
    for balance in statement.balances:
        writer.writerow([end, "closing", balance.mechanism, "", "", balance.closing, "", ""])
    return out.getvalue()


@require_GET
def account_statement_view(request: HttpRequest, number: str, output: str = "html"):
    """A holder's statement of account ``number`` over [from, to) (dates, registry time zone;
    by default this month so far): page, CSV or PDF.

    Members of the account's organisation, administrators and auditors see it; anyone else gets
    404 (the account's existence is not disclosed); anonymous visitors are sent to log in. A
    date that is not a date answers 400 naming the field.
    """
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("rest_framework:login"))
    account = visible(request.user, "account", HoldingAccount.objects.filter(number=number)).first()
    if account is None:
        raise Http404(_("No account has this number."))
    today = timezone.localtime(timezone.now(), REGISTRY_TIME_ZONE).date()
    try:
        start = _date_param(request, "from", today.replace(day=1))
        end = _date_param(request, "to", today + dt.timedelta(days=1))
        statement = account_statement(
            account=account, period_start=_midnight(start), period_end=_midnight(end)
        )
    except DomainError as error:
        return render(
            request,
            "tracking/statement_error.html",
            {"field": error.field, "message": error.message, "font_css": DOCUMENT_FONT_CSS},
            status=error.http_status,
        )
    lines = _statement_lines(statement)
    stem = f"statement-{account.number}-{start:%Y%m%d}-{end:%Y%m%d}"
    if output == "csv":
        response = HttpResponse(
            _statement_csv(statement, lines), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
        return response
    query = request.GET.urlencode()
    base = reverse("account-statement", kwargs={"number": account.number})
    context = {
        "statement": statement,
        "lines": lines,
        "font_css": DOCUMENT_FONT_CSS,
        "period_start_text": f"{start:%Y-%m-%d}",
        "period_end_text": f"{end:%Y-%m-%d}",
        "time_zone": timezone.get_current_timezone_name(),
        "day_time_zone": settings.TIME_ZONE,
        "produced_at": _time_text(timezone.now()),
        "from_value": f"{start:%Y-%m-%d}",
        "to_value": f"{end:%Y-%m-%d}",
        "csv_url": reverse("account-statement-csv", kwargs={"number": account.number})
        + (f"?{query}" if query else ""),
        "pdf_url": reverse("account-statement-pdf", kwargs={"number": account.number})
        + (f"?{query}" if query else ""),
        "page_url": base,
    }
    if output == "pdf":
        html = render_to_string(
            "tracking/statement.html", {**context, "for_print": True}, request=request
        )
        response = HttpResponse(
            html_to_pdf(html, base_url=request.build_absolute_uri("/")),
            content_type="application/pdf",
        )
        response["Content-Disposition"] = f'attachment; filename="{stem}.pdf"'
        return response
    return render(request, "tracking/statement.html", context)
