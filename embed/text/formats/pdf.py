"""PDF (.pdf) through pypdf: paragraphs from the page layout, the page of every passage kept.

pypdf (pure Python, no dependencies) lays each page out as lines of text in reading position
(``extraction_mode="layout"``), with blank lines where the page has vertical gaps: a blank line
ends a paragraph. Then:
  - running headers and footers go: a line at the top or bottom edge of a page that repeats (digits
    aside) on at least half of the pages, and any edge line that is only a page number ("12",
    "Page 3 of 9", "iv");
  - a word hyphenated at a line end is joined again ("con-" + "crete" -> "concrete");
  - a paragraph cut by a page break continues on the next page when the next page opens in lowercase.
A PDF without a text layer (a scan) is skipped with a warning; pages without text are noted.
Multi-column pages come out line by line across the columns (pypdf lays them side by side).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from embed.errors import UnreadableFile
from embed.records import Document, Note
from embed.text.formats.plain import Loaded
from embed.text.titles import detect_title

EDGE_LINES = 2  # how many lines at the top and at the bottom of a page may be header / footer
PAGE_NUMBER = re.compile(r"^(?:page|p\.|seite|pag\.?)?\s*(?:#|[ivxlcdm]+)\s*(?:(?:of|/|de|von)\s*#)?$|^[-–—]\s*#\s*[-–—]$")
HYPHEN_END = re.compile(r"(\w)[-\u00ad]$")
SPACES = re.compile(r"[^\S\n]+")
SENTENCE_END = re.compile(r"[.!?:\"'\u201d)\]]$")
OCR_HINT = "no text layer (a scanned PDF?); run OCR on it first (e.g. `ocrmypdf in.pdf out.pdf`) and index the result"


def read(path: Path, key: str, shown: str) -> Loaded:
    pages, notes, title = extract_pages(path, shown)
    if not any(any(lines) for lines in pages):
        raise UnreadableFile(shown, OCR_HINT)
    text, starts = join_pages(remove_running_lines(pages))
    if not text.strip():
        raise UnreadableFile(shown, "no text besides running headers and footers")
    empty = [str(number) for number, lines in enumerate(pages, 1) if not any(lines)]
    if empty:
        notes.append(Note(shown, f"page(s) {', '.join(empty[:10])}{'...' if len(empty) > 10 else ''} have no text layer"))
    title = title or detect_title(text, path.stem)
    return Loaded([Document(source=key, title=title, text=text, path=shown, pages=tuple(starts))], notes)


def extract_pages(path: Path, shown: str) -> tuple[list[list[str]], list[Note], str]:
    """Lines of each page (whitespace runs collapsed, blank lines kept), notes, the metadata title."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    notes: list[Note] = []
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableFile(shown, "encrypted PDF that needs a password; save an unprotected copy")
        title = str((reader.metadata or {}).get("/Title") or "").strip()
        count = len(reader.pages)
    except UnreadableFile:
        raise
    except OSError as error:
        raise UnreadableFile(shown, f"cannot read ({error.strerror or error})") from error
    except (PyPdfError, ValueError, KeyError, TypeError) as error:
        raise UnreadableFile(shown, f"not a readable PDF ({error})") from error
    pages: list[list[str]] = []
    for number in range(count):
        try:
            raw = reader.pages[number].extract_text(extraction_mode="layout")
        except Exception as error:  # noqa: BLE001 - pypdf raises many kinds on one damaged page; keep the rest
            notes.append(Note(shown, f"page {number + 1} could not be read ({type(error).__name__}); left out"))
            raw = ""
        pages.append([SPACES.sub(" ", line).strip() for line in raw.split("\n")])
    return pages, notes, title


def remove_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop headers, footers and page numbers from the top and bottom edge of each page."""
    repeated = Counter(key for lines in pages for key in {_shape(line) for line in _edges(lines)})
    threshold = max(2, (len(pages) + 1) // 2)
    cleaned = []
    for lines in pages:
        lines = list(lines)
        for edge in (0, -1):
            for _ in range(EDGE_LINES):
                while lines and not lines[edge]:
                    lines.pop(edge)
                if lines and _is_running(lines[edge], repeated, threshold):
                    lines.pop(edge)
        cleaned.append(lines)
    return cleaned


def _edges(lines: list[str]) -> list[str]:
    filled = [line for line in lines if line]
    return filled[:EDGE_LINES] + filled[-EDGE_LINES:]


def _shape(line: str) -> str:
    return re.sub(r"\d+", "#", line.lower())


def _is_running(line: str, repeated: Counter, threshold: int) -> bool:
    shape = _shape(line)
    return bool(PAGE_NUMBER.match(shape)) or repeated[shape] >= threshold


def join_pages(pages: list[list[str]]) -> tuple[str, list[int]]:
    """(text with a blank line between paragraphs, offset where each page starts)."""
    paragraphs: list[str] = []
    starts: list[int] = []
    length = 0  # len("\n\n".join(paragraphs))
    for lines in pages:
        found = _paragraphs(lines)
        if found and paragraphs and _continues(paragraphs[-1], found[0]):
            joined = _join_lines([paragraphs[-1], found[0]])
            starts.append(length + len(joined) - len(paragraphs[-1]) - len(found[0]))  # inside the paragraph
            length += len(joined) - len(paragraphs[-1])
            paragraphs[-1] = joined
            found = found[1:]
        else:
            starts.append(length + 2 if paragraphs else 0)
        for paragraph in found:
            length += (2 if paragraphs else 0) + len(paragraph)
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs), starts


def _continues(previous: str, first: str) -> bool:
    return not SENTENCE_END.search(previous) and first[:1].islower()


def _paragraphs(lines: list[str]) -> list[str]:
    groups: list[list[str]] = [[]]
    for line in lines:
        if line:
            groups[-1].append(line)
        elif groups[-1]:
            groups.append([])
    return [_join_lines(group) for group in groups if group]


def _join_lines(lines: list[str]) -> str:
    """Lines of one paragraph as one line: a hyphen at a line end before a lowercase letter is undone."""
    text = lines[0]
    for line in lines[1:]:
        if HYPHEN_END.search(text) and line[:1].islower():
            text = text[:-1] + line
        else:
            text = f"{text} {line}"
    return text
