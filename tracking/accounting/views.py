"""The public page of grid factors: every published factor with the formula behind it."""

from __future__ import annotations

from itertools import groupby

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

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
