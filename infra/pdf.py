"""PDF rendering of a `Document` with fpdf2 (pure Python) and the DejaVu Sans font shipped in
`infra/fonts` (its licence beside it): residents' and officers' names carry accents and dashes
that the PDF standard fonts cannot show. A4 landscape, a table per section, every page
numbered and titled, so a printed page read alone still says what it belongs to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

from infra.documents import Document, Table

FONTS = Path(__file__).resolve().parent / "fonts"
FAMILY = "DejaVu"


class _Pdf(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.title_text = title
        self.add_font(FAMILY, "", FONTS / "DejaVuSans.ttf")
        self.add_font(FAMILY, "B", FONTS / "DejaVuSans-Bold.ttf")
        self.set_auto_page_break(auto=True, margin=14)
        self.set_title(title)
        self.set_creator("councilcrm")

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(FAMILY, "", 7)
        self.cell(0, 5, f"{self.title_text} — page {self.page_no()} of {{nb}}", align="C")


def as_pdf(doc: Document) -> bytes:
    pdf = _Pdf(doc.title)
    pdf.add_page()
    pdf.set_font(FAMILY, "B", 14)
    pdf.multi_cell(0, 7, doc.title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(FAMILY, "", 9)
    for label, value in doc.facts:
        pdf.set_font(FAMILY, "B", 9)
        pdf.cell(55, 5, label)
        pdf.set_font(FAMILY, "", 9)
        pdf.multi_cell(0, 5, value, new_x="LMARGIN", new_y="NEXT")
    for table in doc.tables:
        _table(pdf, table)
    if doc.notes:
        pdf.ln(3)
        pdf.set_font(FAMILY, "", 8)
        for note in doc.notes:
            pdf.multi_cell(0, 4.5, note, new_x="LMARGIN", new_y="NEXT")
    out: Any = pdf.output()
    return bytes(out)


def _table(pdf: FPDF, table: Table) -> None:
    pdf.ln(4)
    pdf.set_font(FAMILY, "B", 11)
    pdf.multi_cell(0, 6, table.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 7)
    if not table.rows:
        pdf.multi_cell(0, 5, "(none)", new_x="LMARGIN", new_y="NEXT")
        return
    widths = table.widths or tuple(1.0 for _ in table.columns)
    heading = FontFace(emphasis="BOLD", fill_color=(225, 225, 225))
    with pdf.table(
        col_widths=widths,
        headings_style=heading,
        line_height=3.6,
        text_align="LEFT",
        repeat_headings=1,
    ) as grid:
        for row in [table.columns, *table.rows]:
            line = grid.row()
            for value in row:
                line.cell(value)
