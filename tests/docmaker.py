"""Small PDF and Word files written by the tests (fpdf2 and python-docx), with known text on known pages."""

from __future__ import annotations

from pathlib import Path

HEADER = "Journal of Valley Studies - Volume 3"


def write_pdf(path: Path, pages: list[list[str]], *, header: str | None = HEADER, numbers: bool = True,
              title: str | None = None) -> Path:
    """One PDF page per item of ``pages`` (a list of paragraphs), with a running header and page numbers."""
    from fpdf import FPDF

    class Paper(FPDF):
        def header(self) -> None:
            if header:
                self.set_font("Helvetica", size=9)
                self.cell(0, 5, header, align="C")
                self.ln(12)

        def footer(self) -> None:
            if numbers:
                self.set_y(-15)
                self.set_font("Helvetica", size=9)
                self.cell(0, 5, str(self.page_no()), align="C")

    pdf = Paper()
    if title:
        pdf.set_title(title)
    for paragraphs in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(6)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def write_blank_pdf(path: Path, pages: int = 2) -> Path:
    """A PDF whose pages hold only a drawn rectangle: no text layer, like a scan."""
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
        pdf.rect(20, 20, 100, 60, style="F")
    pdf.output(str(path))
    return path


def write_docx(path: Path, blocks: list[tuple[str, str]], *, title: str | None = None) -> Path:
    """``blocks``: ("h1" | "h2" | "p" | "title", text) in order; ("table", "a|b;c|d") makes a table."""
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for kind, text in blocks:
        if kind == "title":
            document.add_heading(text, level=0)
        elif kind.startswith("h"):
            document.add_heading(text, level=int(kind[1:]))
        elif kind == "table":
            rows = [row.split("|") for row in text.split(";")]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
        else:
            document.add_paragraph(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path
