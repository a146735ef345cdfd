"""Charts of unit totals and refused attempts, drawn with matplotlib as SVG text to inline in
HTML (the report page, its PDF and /public/): no image files, no script, no network.

Text stays text (``svg.fonttype`` none), in the family list the pages use, so the browser or
WeasyPrint draws Chinese labels with the CJK font. Each chart's element ids carry a prefix of
its own, so several charts inline in one page never share an id. Drawing is serialised by a lock:
matplotlib's settings are process-wide and pages may be rendered on several threads.
"""

from __future__ import annotations

import io
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # never a GUI backend on a server

from django.utils.html import escape  # noqa: E402
from django.utils.translation import gettext as _  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

FONT_FAMILIES = ["Noto Sans CJK SC", "DejaVu Sans"]
ISSUED_COLOUR = "#2b6cb0"
RETIRED_COLOUR = "#2f855a"
CANCELLED_COLOUR = "#c05621"
REFUSED_COLOUR = "#c53030"
# Short unit names for chart and table labels (UnitKind's labels are sentences).
UNIT_SYMBOLS = {"E": "MWh", "C": "tCO2e", "T": "tce"}
# The report draws one panel per mechanism; beyond this many the tables carry the rest.
MECHANISM_PANELS = 8
WIDTH_INCHES = 7.5

_STYLE = {
    "svg.fonttype": "none",
    # Fixed salt: the same figures give the same SVG, byte for byte.
    "svg.hashsalt": "uniqueness-report",
    "font.family": ["sans-serif"],
    "font.sans-serif": FONT_FAMILIES,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "legend.frameon": False,
}
_drawing = threading.Lock()
_ID = re.compile(r'\bid="([^"]+)"')
_REFERENCE = re.compile(r'(url\(#|xlink:href="#|href="#)([^)"]+)')
_STYLE_ATTRIBUTE = re.compile(r'style="([^"]*)"')


def _presentation_attributes(match: re.Match) -> str:
    declarations = (part.split(":", 1) for part in match.group(1).split(";") if ":" in part)
    return " ".join(f'{name.strip()}="{value.strip()}"' for name, value in declarations)


def _series_labels() -> dict[str, str]:
    return {
        "issued": _("Issued"),
        "retired": _("Retired"),
        "cancelled": _("Cancelled"),
    }


def _series_colours() -> dict[str, str]:
    return {"issued": ISSUED_COLOUR, "retired": RETIRED_COLOUR, "cancelled": CANCELLED_COLOUR}


def _thousands(value: float, _position: Any) -> str:
    return f"{int(value):,}"


def _finish(figure: Figure, *, name: str, title: str) -> str:
    """The figure as an inline <svg> element: no XML prologue, ids prefixed with ``name``,
    labelled for screen readers with ``title``."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.DOTALL)
    # Matplotlib's <style> block would apply to the whole page the SVG is inlined in, and
    # WeasyPrint reads style attributes as HTML CSS (warning on each SVG property): presentation
    # attributes say the same to every SVG renderer.
    svg = re.sub(r"\s*<style[^>]*>.*?</style>", "", svg, flags=re.DOTALL)
    svg = _STYLE_ATTRIBUTE.sub(_presentation_attributes, svg)
    svg = _ID.sub(lambda match: f'id="{name}-{match.group(1)}"', svg)
    svg = _REFERENCE.sub(lambda match: f"{match.group(1)}{name}-{match.group(2)}", svg)
    label = escape(title)
    return svg.replace(
        "<svg ",
        f'<svg class="chart" role="img" aria-label="{label}" data-chart="{name}" ',
        1,
    ).replace(">", f"><title>{label}</title>", 1)


def _grouped_bars(axes, categories: Sequence[str], series: Mapping[str, Sequence[int]]) -> None:
    """Bars of each series side by side for each category, along the x axis."""
    count = max(len(series), 1)
    width = 0.8 / count
    colours = _series_colours()
    labels = _series_labels()
    for index, (key, values) in enumerate(series.items()):
        positions = [
            category + (index - (count - 1) / 2) * width for category in range(len(categories))
        ]
        axes.bar(positions, values, width=width, label=labels[key], color=colours[key])
    # At least four slots, so that one or two categories are not drawn as slabs.
    margin = max(4 - len(categories), 0) / 2
    axes.set_xlim(-0.5 - margin, len(categories) - 0.5 + margin)
    axes.set_xticks(range(len(categories)))
    rotate = len(categories) > 6
    axes.set_xticklabels(
        categories, rotation=60 if rotate else 0, ha="right" if rotate else "center"
    )
    if len(categories) > 36:  # label every n-th month only, or the labels overlap
        step = -(-len(categories) // 36)
        for position, label in enumerate(axes.get_xticklabels()):
            label.set_visible(position % step == 0)
    axes.yaxis.set_major_formatter(FuncFormatter(_thousands))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", color="#e2e8f0", linewidth=0.6)
    axes.set_axisbelow(True)


def _series(rows: Iterable[Mapping[str, Any]], key: str) -> tuple[list[str], dict[str, list]]:
    """Issued, retired and cancelled summed per value of ``key``, in the order first seen."""
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        for measure in ("issued", "retired", "cancelled"):
            sums[str(row.get(key) or "")][measure] += int(row.get(measure) or 0)
    categories = list(sums)
    return categories, {
        measure: [sums[category][measure] for category in categories]
        for measure in ("issued", "retired", "cancelled")
    }


def units_by_mechanism_month_svg(
    rows: Sequence[Mapping[str, Any]], *, units: Mapping[str, str] | None = None
) -> str:
    """One panel per mechanism (the ``MECHANISM_PANELS`` largest by units issued): issued,
    retired and cancelled units per vintage month, the panel titled with the mechanism's code
    and its unit (``units``: unit kind per mechanism code). Empty text when there are no
    units."""
    units = units or {}
    if not rows:
        return ""
    issued_by_mechanism: dict[str, int] = defaultdict(int)
    for row in rows:
        issued_by_mechanism[row["mechanism"]] += int(row.get("issued") or 0)
    mechanisms = sorted(issued_by_mechanism, key=lambda code: (-issued_by_mechanism[code], code))
    mechanisms = mechanisms[:MECHANISM_PANELS]
    months = sorted({row["month"] for row in rows})
    title = _("Units issued, retired and cancelled per mechanism and vintage month")
    with _drawing, matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(WIDTH_INCHES, 0.6 + 2.3 * len(mechanisms)), layout="constrained")
        panels = figure.subplots(len(mechanisms), 1, squeeze=False)[:, 0]
        for axes, mechanism in zip(panels, mechanisms, strict=True):
            by_month = {row["month"]: row for row in rows if row["mechanism"] == mechanism}
            series = {
                measure: [int((by_month.get(month) or {}).get(measure) or 0) for month in months]
                for measure in ("issued", "retired", "cancelled")
            }
            _grouped_bars(axes, months, series)
            symbol = UNIT_SYMBOLS.get(units.get(mechanism, ""), "")
            axes.set_title(f"{mechanism} ({symbol})" if symbol else mechanism, loc="left")
        figure.legend(*panels[0].get_legend_handles_labels(), loc="outside upper right", ncols=3)
        return _finish(figure, name="units-by-mechanism-month", title=title)


def refused_attempts_svg(rows: Sequence[Mapping[str, Any]]) -> str:
    """Refused attempts per rule (the error code where no rule is named), largest first.
    Empty text when nothing was refused."""
    if not rows:
        return ""
    attempts: dict[str, int] = defaultdict(int)
    for row in rows:
        attempts[row.get("rule") or row.get("code") or "?"] += int(row.get("attempts") or 0)
    rules = sorted(attempts, key=lambda rule: (attempts[rule], rule))  # barh draws bottom-up
    title = _("Refused attempts per rule")
    with _drawing, matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(WIDTH_INCHES, 1.0 + 0.3 * len(rules)), layout="constrained")
        axes = figure.subplots()
        axes.barh(rules, [attempts[rule] for rule in rules], color=REFUSED_COLOUR)
        axes.xaxis.set_major_formatter(FuncFormatter(_thousands))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(axis="x", color="#e2e8f0", linewidth=0.6)
        axes.set_axisbelow(True)
        axes.set_xlabel(_("Refused attempts"))
        axes.set_title(title, loc="left")
        return _finish(figure, name="refused-attempts", title=title)


def unit_totals_svg(rows: Sequence[Mapping[str, Any]], *, key: str, title: str, name: str) -> str:
    """Issued, retired and cancelled units side by side per value of ``key`` (mechanism,
    province or month) of ``unit_totals`` rows. Empty text when there are no units."""
    if not rows:
        return ""
    categories, series = _series(rows, key)
    with _drawing, matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(WIDTH_INCHES, 3.2), layout="constrained")
        axes = figure.subplots()
        _grouped_bars(axes, categories, series)
        figure.legend(*axes.get_legend_handles_labels(), loc="outside upper right", ncols=3)
        axes.set_title(title, loc="left")
        return _finish(figure, name=name, title=title)
