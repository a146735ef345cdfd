"""Names of the places the registry's projects lie in, for people (codes stay in the data).

ISO 3166-2:CN subdivisions; ``registry.services.validate_subdivision`` accepts any ISO 3166-2
code, and a code of another country is shown as it is.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

PROVINCE_NAMES = {
    "CN-AH": _("Anhui"),
    "CN-BJ": _("Beijing"),
    "CN-CQ": _("Chongqing"),
    "CN-FJ": _("Fujian"),
    "CN-GD": _("Guangdong"),
    "CN-GS": _("Gansu"),
    "CN-GX": _("Guangxi"),
    "CN-GZ": _("Guizhou"),
    "CN-HA": _("Henan"),
    "CN-HB": _("Hubei"),
    "CN-HE": _("Hebei"),
    "CN-HI": _("Hainan"),
    "CN-HK": _("Hong Kong"),
    "CN-HL": _("Heilongjiang"),
    "CN-HN": _("Hunan"),
    "CN-JL": _("Jilin"),
    "CN-JS": _("Jiangsu"),
    "CN-JX": _("Jiangxi"),
    "CN-LN": _("Liaoning"),
    "CN-MO": _("Macao"),
    "CN-NM": _("Inner Mongolia"),
    "CN-NX": _("Ningxia"),
    "CN-QH": _("Qinghai"),
    "CN-SC": _("Sichuan"),
    "CN-SD": _("Shandong"),
    "CN-SH": _("Shanghai"),
    "CN-SN": _("Shaanxi"),
    "CN-SX": _("Shanxi"),
    "CN-TJ": _("Tianjin"),
    "CN-TW": _("Taiwan"),
    "CN-XJ": _("Xinjiang"),
    "CN-XZ": _("Xizang"),
    "CN-YN": _("Yunnan"),
    "CN-ZJ": _("Zhejiang"),
}


def province_name(code: str) -> str:
    """The province's name in the active language, or the code when it has none."""
    name = PROVINCE_NAMES.get(code)
    return str(name) if name is not None else code
