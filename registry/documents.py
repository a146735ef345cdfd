"""Documents people download: HTML rendered to PDF with WeasyPrint, Chinese set in an embedded
CJK font.

The font stack names Noto Sans CJK SC (Debian/Ubuntu ``fonts-noto-cjk``) so every Chinese glyph
comes from one font and is embedded in the PDF, which then reads the same on a machine without
Chinese fonts. Templates that render a PDF include ``DOCUMENT_FONT_CSS`` in their style sheet.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe

DOCUMENT_FONT_CSS = """
html { font-family: "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans",
                     "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC",
                     "Microsoft YaHei", sans-serif; }
html:lang(zh), html:lang(zh-hans) {
  font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
               "Helvetica Neue", Arial, sans-serif; }
.hash { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; word-break: break-all; }
"""


def html_to_pdf(html: str, *, base_url: str | None = None) -> bytes:
    """The PDF of one HTML document (its own print styles apply); fonts are embedded.

    ``base_url`` resolves relative links and resources; None leaves relative URLs unresolved.
    """
    from weasyprint import HTML  # imported late: loading WeasyPrint takes a noticeable moment

    return HTML(string=html, base_url=base_url or None).write_pdf()


def public_url(path: str, *, request: HttpRequest | None) -> str:
    """The absolute address of ``path`` (a path from ``reverse``) for people outside.

    ``REGISTRY_PUBLIC_BASE_URL`` when set, so that a certificate prints the same address however
    it was fetched (behind a proxy, through an internal host name); otherwise the address the
    request came in on; without a request, the bare path.
    """
    if settings.REGISTRY_PUBLIC_BASE_URL:
        return settings.REGISTRY_PUBLIC_BASE_URL + path
    return request.build_absolute_uri(path) if request is not None else path


def qr_code_svg(text: str, *, scale: int = 3) -> SafeString:
    """An inline SVG QR code of ``text`` for HTML pages and WeasyPrint PDFs.

    Error correction M (15 % of the code may be soiled or torn and it still reads), the standard
    4-module quiet zone around it, and one SVG path of dark modules, so a PDF keeps it vector-sharp
    at any print size. Safe to insert unescaped: segno writes only numbers and fixed markup.
    """
    import segno  # imported late like WeasyPrint: only documents with a QR code need it

    code = segno.make(text, error="m", micro=False, boost_error=False)
    return mark_safe(  # noqa: S308 - segno's own markup, no user text in it
        code.svg_inline(scale=scale, border=4, dark="#000", light="#fff", svgclass="qr-code")
    )
