"""The interchange format (docs/interop.md): one canonical row, CSV with a header or JSON, and the
column mappings (adapters) of the layouts other registries publish.

Everything here is pure: text in, rows out; a row in, typed values or errors per field out. No
database access, so the import service decides what a row becomes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy as _

from registry.models import Project, UnitKind

# The canonical columns, in file order. Exports write exactly these; imports of the canonical
# layout need the required ones and ignore unknown columns.
CANONICAL_FIELDS = (
    "source_registry",
    "external_id",
    "kind",
    "external_project_id",
    "project_name",
    "country",
    "province",
    "technology",
    "capacity_mw",
    "unit",
    "mechanism",
    "period_start",
    "period_end",
    "quantity",
    "serials",
    "transaction_date",
    "beneficiary",
)
REQUIRED_FIELDS = (
    "source_registry",
    "external_id",
    "kind",
    "unit",
    "mechanism",
    "period_start",
    "period_end",
    "quantity",
)
UNITS = {"MWH": UnitKind.ELECTRICITY, "TCO2E": UnitKind.CARBON, "TCE": UnitKind.ENERGY_SAVED}
UNIT_NAMES = {UnitKind.ELECTRICITY: "MWh", UnitKind.CARBON: "tCO2e", UnitKind.ENERGY_SAVED: "tce"}
MAX_QUANTITY = Decimal(10) ** 13


class FileError(ValueError):
    """The file as a whole cannot be read (encoding, syntax, missing columns)."""


# --- reading files ----------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM); Chinese registries' lists often come as GB18030 instead."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileError(_("The file is neither UTF-8 nor GB18030 text."))


def read_rows(content: str, file_format: str) -> list[dict[str, Any]]:
    """The file's rows as dicts of column -> value (CSV: every value text)."""
    if "\x00" in content:
        raise FileError(_("The file contains NUL characters."))
    if file_format == "json":
        try:
            rows = json.loads(content)
        except ValueError as error:
            raise FileError(
                _("The file is not valid JSON: %(error)s") % {"error": str(error)}
            ) from None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise FileError(_("A JSON import is a list of objects, one per record."))
        return rows
    reader = csv.DictReader(io.StringIO(content, newline=""))
    try:
        rows = list(reader)
        header = reader.fieldnames
    except csv.Error as error:
        raise FileError(
            _("The CSV file cannot be read: %(error)s") % {"error": str(error)}
        ) from None
    if not header:
        raise FileError(_("The CSV file has no header row."))
    # A row with more cells than the header puts the rest under the key None: keep them visible.
    return [
        {key if key is not None else "_extra": value for key, value in row.items()} for row in rows
    ]


# --- normalising values -----------------------------------------------------------------------

# ISO 3166-2:CN subdivisions with English and Chinese names, for locations written out in full.
PROVINCES = (
    ("CN-BJ", "beijing", "北京"),
    ("CN-TJ", "tianjin", "天津"),
    ("CN-HE", "hebei", "河北"),
    ("CN-SX", "shanxi", "山西"),
    ("CN-NM", "inner mongolia", "内蒙古"),
    ("CN-LN", "liaoning", "辽宁"),
    ("CN-JL", "jilin", "吉林"),
    ("CN-HL", "heilongjiang", "黑龙江"),
    ("CN-SH", "shanghai", "上海"),
    ("CN-JS", "jiangsu", "江苏"),
    ("CN-ZJ", "zhejiang", "浙江"),
    ("CN-AH", "anhui", "安徽"),
    ("CN-FJ", "fujian", "福建"),
    ("CN-JX", "jiangxi", "江西"),
    ("CN-SD", "shandong", "山东"),
    ("CN-HA", "henan", "河南"),
    ("CN-HB", "hubei", "湖北"),
    ("CN-HN", "hunan", "湖南"),
    ("CN-GD", "guangdong", "广东"),
    ("CN-GX", "guangxi", "广西"),
    ("CN-HI", "hainan", "海南"),
    ("CN-CQ", "chongqing", "重庆"),
    ("CN-SC", "sichuan", "四川"),
    ("CN-GZ", "guizhou", "贵州"),
    ("CN-YN", "yunnan", "云南"),
    ("CN-XZ", "tibet", "西藏"),
    ("CN-SN", "shaanxi", "陕西"),
    ("CN-GS", "gansu", "甘肃"),
    ("CN-QH", "qinghai", "青海"),
    ("CN-NX", "ningxia", "宁夏"),
    ("CN-XJ", "xinjiang", "新疆"),
)
COUNTRIES = {"china": "CN", "中国": "CN", "india": "IN", "viet nam": "VN", "vietnam": "VN"}
TECHNOLOGY_WORDS = (
    ("wind", ("wind", "风")),
    ("solar", ("solar", "photovoltaic", " pv", "pv ", "光伏", "太阳能")),
    ("hydro", ("hydro", "水电")),
    ("biomass", ("biomass", "biogas", "landfill", "生物质", "沼气")),
    ("energy_saving", ("energy efficiency", "energy saving", "节能", "余热")),
    ("forestry", ("forest", "afforestation", "reforestation", "a/r", "林")),
)
NAME_NOISE = re.compile(
    r"\b(project|projects|co|ltd|limited|company|corporation|inc|the|of|phase)\b|项目|有限公司|公司"
)


def province_code(text: str) -> str:
    """An ISO 3166-2:CN code from a code or a province name (English or Chinese); "" if none."""
    value = (text or "").strip()
    if re.fullmatch(r"CN-[A-Z]{2}", value.upper()):
        return value.upper()
    lowered = value.lower()
    for code, english, chinese in PROVINCES:
        if english in lowered or value.startswith(chinese):
            return code
    return ""


def country_code(text: str) -> str:
    value = (text or "").strip()
    if re.fullmatch(r"[A-Za-z]{2}", value):
        return value.upper()
    return COUNTRIES.get(value.lower(), "")


def technology_of(*texts: str) -> str:
    """The registry's technology for words like "Wind", "光伏" or "Solar Thermal - Electricity"."""
    for text in texts:
        lowered = f" {(text or '').lower()} "
        for technology, words in TECHNOLOGY_WORDS:
            if any(word in lowered for word in words):
                return technology
    return ""


def normalised_name(name: str) -> str:
    """Lower case, no punctuation, no words every project name has ("project", "Co., Ltd.")."""
    text = unicodedata.normalize("NFKC", name or "").lower()
    text = NAME_NOISE.sub(" ", text)
    text = re.sub(r"[^\w]+", " ", text)
    return " ".join(text.split())


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    return str(value).strip()


def _number_text(value: str) -> str:
    """Public exports write thousands with commas ("1,454,054")."""
    return value.replace(",", "").strip()


def parse_date(value: str) -> dt.date:
    """ISO 8601 dates; a date-time (as Gold Standard writes issuance dates) gives its date."""
    text = value.strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(text) from None


# --- adapters: a source layout's row -> canonical row ------------------------------------------


def _canonical(row: dict[str, Any]) -> dict[str, str]:
    return {name: _text(row, name) for name in CANONICAL_FIELDS}


def _verra(row: dict[str, Any]) -> dict[str, str]:
    retired_on = _text(row, "Retirement/Cancellation Date")
    name = _text(row, "Name")
    return {
        "source_registry": "VERRA",
        "external_id": _text(row, "Serial Number"),
        "kind": "retirement" if retired_on else "issuance",
        "external_project_id": _text(row, "ID"),
        "project_name": name,
        "country": _text(row, "Country/Area"),
        "province": "",
        "technology": technology_of(name, _text(row, "Project Type")),
        "capacity_mw": "",
        "unit": "tCO2e",
        "mechanism": "VCU",
        "period_start": _text(row, "Vintage Start"),
        "period_end": _text(row, "Vintage End"),
        "quantity": _number_text(_text(row, "Quantity Issued")),
        "serials": _text(row, "Serial Number"),
        "transaction_date": retired_on or _text(row, "Issuance Date"),
        "beneficiary": _text(row, "Retirement Beneficiary"),
    }


def _gold_standard_period(row: dict[str, Any]) -> tuple[str, str]:
    """Gold Standard lists one row per vintage of a monitoring period: the row's output lies in
    the part of the monitoring period inside its vintage year."""
    start, end = _text(row, "Monitoring Period Start"), _text(row, "Monitoring Period End")
    vintage = _number_text(_text(row, "Vintage"))
    try:
        year = int(vintage)
        first, last = parse_date(start), parse_date(end)
    except ValueError:
        return start, end
    first = max(first, dt.date(year, 1, 1))
    last = min(last, dt.date(year, 12, 31))
    return first.isoformat(), last.isoformat()


def _gold_standard(row: dict[str, Any]) -> dict[str, str]:
    status = _text(row, "Credit Status").lower()
    kind = {"issued": "issuance", "retired": "retirement"}.get(status, status)
    start, end = _gold_standard_period(row)
    name = _text(row, "Project Name")
    return {
        "source_registry": "GS",
        "external_id": _text(row, "Serial Number"),
        "kind": kind,
        "external_project_id": _text(row, "GSID"),
        "project_name": name,
        "country": _text(row, "Country"),
        "province": "",
        "technology": technology_of(_text(row, "Project Type"), name),
        "capacity_mw": "",
        "unit": "tCO2e",
        "mechanism": _text(row, "Product Type") or "VER",
        "period_start": start,
        "period_end": end,
        "quantity": _number_text(_text(row, "Quantity")),
        "serials": _text(row, "Serial Number"),
        "transaction_date": _text(row, "Retirement Date") or _text(row, "Issuance Date"),
        "beneficiary": _text(row, "Using Entity"),
    }


def _irec(row: dict[str, Any]) -> dict[str, str]:
    transaction = _text(row, "Transaction Type").lower()
    kind = {"issue": "issuance", "issuance": "issuance", "redemption": "retirement"}.get(
        transaction, transaction
    )
    first, last = _text(row, "Certificate From"), _text(row, "Certificate To")
    return {
        "source_registry": "IREC",
        "external_id": _text(row, "Transaction ID"),
        "kind": kind,
        "external_project_id": _text(row, "Device Code"),
        "project_name": _text(row, "Device Name"),
        "country": _text(row, "Country"),
        "province": _text(row, "Region"),
        "technology": technology_of(_text(row, "Technology")),
        "capacity_mw": _number_text(_text(row, "Capacity (MW)")),
        "unit": "MWh",
        "mechanism": "IREC",
        "period_start": _text(row, "Production Period Start"),
        "period_end": _text(row, "Production Period End"),
        "quantity": _number_text(_text(row, "Volume (MWh)")),
        "serials": f"{first}-{last}" if first and last else first,
        "transaction_date": _text(row, "Transaction Date"),
        "beneficiary": _text(row, "Beneficiary"),
    }


def _month_period(text: str) -> tuple[str, str]:
    """ "2025-03" (or "2025年3月") -> the first and last day of that month."""
    match = re.fullmatch(r"(\d{4})\D{1,2}(\d{1,2})\D?", text.strip())
    if not match:
        return text, text
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        return text, text
    first = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return first.isoformat(), (following - dt.timedelta(days=1)).isoformat()


def _gec(row: dict[str, Any]) -> dict[str, str]:
    start, end = _month_period(_text(row, "生产年月"))
    technology = _text(row, "项目类型")
    return {
        "source_registry": "GEC",
        "external_id": _text(row, "核发批次号"),
        "kind": "issuance",
        "external_project_id": _text(row, "项目代码"),
        "project_name": _text(row, "项目名称"),
        "country": "CN",
        "province": _text(row, "省份"),
        "technology": technology_of(technology),
        "capacity_mw": _number_text(_text(row, "装机容量(MW)")),
        "unit": "MWh",
        "mechanism": "GEC",
        "period_start": start,
        "period_end": end,
        "quantity": _number_text(_text(row, "核发数量")),
        "serials": _text(row, "证书编号"),
        "transaction_date": _text(row, "核发日期"),
        "beneficiary": "",
    }


def _ccer(row: dict[str, Any]) -> dict[str, str]:
    return {
        "source_registry": "CCER",
        "external_id": _text(row, "登记编号"),
        "kind": "issuance",
        "external_project_id": _text(row, "项目编号"),
        "project_name": _text(row, "项目名称"),
        "country": "CN",
        "province": _text(row, "所在省份"),
        "technology": technology_of(_text(row, "项目类型"), _text(row, "项目名称")),
        "capacity_mw": "",
        "unit": "tCO2e",
        "mechanism": "CCER",
        "period_start": _text(row, "核查期开始"),
        "period_end": _text(row, "核查期结束"),
        "quantity": _number_text(_text(row, "登记减排量")),
        "serials": _text(row, "减排量编号"),
        "transaction_date": _text(row, "登记日期"),
        "beneficiary": "",
    }


@dataclass(frozen=True)
class Adapter:
    """How one layout's columns become canonical ones; ``columns`` must all be present."""

    layout: str
    columns: tuple[str, ...]
    convert: Callable[[dict[str, Any]], dict[str, str]]


ADAPTERS = {
    "canonical": Adapter("canonical", REQUIRED_FIELDS, _canonical),
    "verra": Adapter(
        "verra",
        (
            "ID",
            "Name",
            "Vintage Start",
            "Vintage End",
            "Quantity Issued",
            "Serial Number",
            "Issuance Date",
            "Retirement/Cancellation Date",
        ),
        _verra,
    ),
    "gold_standard": Adapter(
        "gold_standard",
        (
            "GSID",
            "Project Name",
            "Credit Status",
            "Vintage",
            "Quantity",
            "Serial Number",
            "Monitoring Period Start",
            "Monitoring Period End",
        ),
        _gold_standard,
    ),
    "irec": Adapter(
        "irec",
        (
            "Transaction ID",
            "Transaction Type",
            "Device Code",
            "Device Name",
            "Production Period Start",
            "Production Period End",
            "Volume (MWh)",
        ),
        _irec,
    ),
    "gec": Adapter("gec", ("核发批次号", "项目代码", "项目名称", "生产年月", "核发数量"), _gec),
    "ccer": Adapter(
        "ccer",
        ("登记编号", "项目编号", "项目名称", "核查期开始", "核查期结束", "登记减排量"),
        _ccer,
    ),
}


def check_columns(layout: str, file_format: str, rows: list[dict[str, Any]]) -> None:
    """Refuse a whole CSV file whose header lacks a column the layout needs (every row would be
    invalid for the same reason: one clear error instead). JSON objects may leave keys out: a
    missing value is then that row's error."""
    if file_format != "csv" or not rows:
        return
    missing = [column for column in ADAPTERS[layout].columns if column not in rows[0]]
    if missing:
        raise FileError(
            _("The file lacks the columns %(columns)s of the %(layout)s layout.")
            % {"columns": ", ".join(missing), "layout": layout}
        )


# --- validating a canonical row ---------------------------------------------------------------


@dataclass(frozen=True)
class ValidRow:
    """A canonical row with typed values; ``period`` is (first day, day after the last)."""

    source: str
    external_id: str
    kind: str
    external_project_id: str
    project_name: str
    country: str
    province: str
    location: str
    technology: str
    capacity_mw: Decimal | None
    unit_kind: str
    mechanism_code: str
    period: tuple[dt.date, dt.date]
    quantity: Decimal
    serials: str
    transaction_date: dt.date | None
    beneficiary: str


LIMITS = {
    "source_registry": 32,
    "external_id": 200,
    "external_project_id": 100,
    "project_name": 300,
    "province": 200,
    "mechanism": 16,
    "serials": 500,
    "beneficiary": 300,
}


def validate(canonical: dict[str, str]) -> tuple[ValidRow | None, dict[str, list[str]]]:
    """Typed values, or the errors of every bad field (all of them, not just the first)."""
    errors: dict[str, list[str]] = {}

    def refuse(field: str, message: Any) -> None:
        errors.setdefault(field, []).append(str(message))

    for field in REQUIRED_FIELDS:
        if not canonical.get(field):
            refuse(field, _("This field is required."))
    for field, limit in LIMITS.items():
        if len(canonical.get(field, "")) > limit:
            refuse(field, _("At most %(limit)s characters.") % {"limit": limit})
    kind = canonical.get("kind", "").lower()
    if kind and kind not in ("issuance", "retirement"):
        refuse("kind", _("Kind must be issuance or retirement."))
    unit = canonical.get("unit", "")
    unit_kind = UNITS.get(unit.upper().replace(" ", ""))
    if unit and unit_kind is None:
        refuse("unit", _("Unit must be MWh, tCO2e or tce."))
    dates: dict[str, dt.date | None] = {}
    for field in ("period_start", "period_end", "transaction_date"):
        value = canonical.get(field, "")
        dates[field] = None
        if value:
            try:
                dates[field] = parse_date(value)
            except ValueError:
                refuse(field, _("Not a date (YYYY-MM-DD): %(value)s") % {"value": value[:40]})
    start, end = dates["period_start"], dates["period_end"]
    if start and end and end < start:
        refuse("period_end", _("The period ends before it starts."))
    quantity = None
    if canonical.get("quantity"):
        try:
            quantity = Decimal(canonical["quantity"])
        except InvalidOperation:
            refuse("quantity", _("Not a number."))
        else:
            if not quantity.is_finite() or quantity <= 0:
                refuse("quantity", _("The quantity must be positive."))
            elif quantity >= MAX_QUANTITY or quantity != quantity.quantize(Decimal("0.000001")):
                refuse("quantity", _("At most 13 digits and 6 decimals."))
    capacity = None
    if canonical.get("capacity_mw"):
        try:
            capacity = Decimal(canonical["capacity_mw"])
        except InvalidOperation:
            refuse("capacity_mw", _("Not a number."))
        else:
            if not capacity.is_finite() or capacity < 0 or capacity >= Decimal(10) ** 9:
                refuse("capacity_mw", _("The capacity must be a non-negative number of MW."))
            else:
                capacity = capacity.quantize(Decimal("0.001"))
    technology = canonical.get("technology", "").lower()
    if technology and technology not in Project.Technology.values:
        technology = technology_of(technology) or Project.Technology.OTHER
    if errors:
        return None, errors
    return (
        ValidRow(
            source=canonical["source_registry"].upper(),
            external_id=canonical["external_id"],
            kind=kind,
            external_project_id=canonical.get("external_project_id", ""),
            project_name=canonical.get("project_name", ""),
            country=country_code(canonical.get("country", "")),
            province=province_code(canonical.get("province", "")),
            location=canonical.get("province", ""),
            technology=technology,
            capacity_mw=capacity,
            unit_kind=unit_kind,
            mechanism_code=canonical["mechanism"].upper(),
            period=(start, end + dt.timedelta(days=1)),
            quantity=quantity,
            serials=canonical.get("serials", ""),
            transaction_date=dates["transaction_date"],
            beneficiary=canonical.get("beneficiary", ""),
        ),
        {},
    )


def to_canonical(layout: str, row: dict[str, Any]) -> dict[str, str]:
    return ADAPTERS[layout].convert(row)


# --- writing ----------------------------------------------------------------------------------


def write_csv_line(values: dict[str, Any]) -> str:
    """One CSV line of the canonical columns (for streaming exports)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(
        ["" if values.get(name) is None else values[name] for name in CANONICAL_FIELDS]
    )
    return buffer.getvalue()


def csv_header() -> str:
    return write_csv_line({name: name for name in CANONICAL_FIELDS})
