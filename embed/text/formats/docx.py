"""Word (.docx) through python-docx: body paragraphs and tables in document order.

Each Word paragraph is a paragraph; a paragraph styled "Heading n" or "Title" also titles the
passages of its section. Table rows become paragraphs of their cell texts. The document title is the
file's Title property, else its first Title/Heading paragraph, else the first headline-like line.
Old binary .doc files are not read (not discovered).
"""

from __future__ import annotations

from pathlib import Path

from embed.errors import UnreadableFile
from embed.records import Document
from embed.text.formats.plain import Loaded
from embed.text.titles import detect_title


def read(path: Path, key: str, shown: str) -> Loaded:
    blocks, sections, title = extract_blocks(path, shown)
    text = "\n\n".join(blocks)
    if not text.strip():
        raise UnreadableFile(shown, "no text in the Word document")
    title = title or next((heading for _, heading in sections), "") or detect_title(text, path.stem)
    return Loaded([Document(source=key, title=title, text=text, path=shown, sections=tuple(sections))])


def extract_blocks(path: Path, shown: str) -> tuple[list[str], list[tuple[int, str]], str]:
    """(paragraph texts, [(offset, heading)], core-properties title)."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(str(path))
    except OSError as error:
        raise UnreadableFile(shown, f"cannot read ({error.strerror or error})") from error
    except Exception as error:  # noqa: BLE001 - python-docx/zipfile/lxml raise many kinds for a damaged file
        raise UnreadableFile(shown, f"not a readable Word file ({type(error).__name__}: {error})") from error
    blocks: list[str] = []
    sections: list[tuple[int, str]] = []
    offset = 0
    for item in document.iter_inner_content():
        rows = _table_rows(item) if isinstance(item, Table) else [" ".join(item.text.split())]
        if not isinstance(item, Table) and _is_heading(item) and rows[0]:
            sections.append((offset, rows[0]))
        for row in filter(None, rows):
            blocks.append(row)
            offset += len(row) + 2
    title = " ".join((document.core_properties.title or "").split())
    return blocks, sections, title


def _is_heading(paragraph) -> bool:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    return name.startswith("Heading") or name == "Title"


def _table_rows(table) -> list[str]:
    rows = []
    for row in table.rows:
        cells = list(dict.fromkeys(" ".join(cell.text.split()) for cell in row.cells))  # merged cells repeat
        rows.append(" | ".join(cell for cell in cells if cell))
    return rows
