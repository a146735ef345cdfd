"""Plain pages of holdings: public retirement pages and certificates, holders' statements, the
public grid factors."""

from django.urls import path, re_path

from tracking import views
from tracking.accounting.views import (
    green_power_settlement_page,
    grid_factors_page,
    scope2_report_page,
)

urlpatterns = [
    path("public/grid-factors/", grid_factors_page, name="public-grid-factors"),
    path("accounting/scope2/<int:report_id>/", scope2_report_page, name="scope2-report-page"),
    re_path(
        r"^accounting/green-power/(?P<month>\d{4}-\d{2})/$",
        green_power_settlement_page,
        name="green-power-settlement-page",
    ),
    path("retirements/<uuid:public_id>/", views.retirement_page, name="retirement-page"),
    path(
        "retirements/<uuid:public_id>/certificate.pdf",
        views.retirement_certificate_pdf,
        name="retirement-certificate",
    ),
    path(
        "accounts/<str:number>/statement/",
        views.account_statement_view,
        name="account-statement",
    ),
    path(
        "accounts/<str:number>/statement.csv",
        views.account_statement_view,
        {"output": "csv"},
        name="account-statement-csv",
    ),
    path(
        "accounts/<str:number>/statement.pdf",
        views.account_statement_view,
        {"output": "pdf"},
        name="account-statement-pdf",
    ),
]
