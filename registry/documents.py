"""Documents people download: HTML rendered to PDF with WeasyPrint, Chinese set in an embedded
CJK font.

The font stack names Noto Sans CJK SC (Debian/Ubuntu ``fonts-noto-cjk``) so every Chinese glyph
comes from one font and is embedded in the PDF, which then reads the same on a machine without
Chinese fonts. Templates that render a PDF include ``DOCUMENT_FONT_CSS`` in their style sheet.
"""

from __future__ import annotations

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
