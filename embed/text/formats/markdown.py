"""Markdown (.md, .markdown) parsed with markdown-it-py (CommonMark + tables), markup stripped.

Rule: headings, paragraphs, list items, block quotes and table rows become paragraphs of plain text
(emphasis dropped, links and images become their text); headings also title the passages of their
section. Code blocks (fenced or indented) and raw HTML blocks are left out: semsearch indexes prose,
and code read as prose matches questions by accident. Inline `code` keeps its text. YAML front matter
is left out.
"""

from __future__ import annotations

import re
from pathlib import Path

from embed.errors import UnreadableFile
from embed.records import Document
from embed.text.formats.plain import Loaded, decode_file
from embed.text.titles import detect_title

FRONT_MATTER = re.compile(r"\A---[^\S\n]*\n.*?\n(?:---|\.\.\.)[^\S\n]*(?:\n|\Z)", re.DOTALL)
SKIPPED_BLOCKS = frozenset({"fence", "code_block", "html_block"})
INLINE_TEXT = frozenset({"text", "code_inline"})


def read(path: Path, key: str, shown: str) -> Loaded:
    source, notes = decode_file(path, shown)
    text, sections = markdown_to_text(source)
    if not text.strip():
        raise UnreadableFile(shown, "no text outside code blocks and markup")
    title = next((heading for _, heading in sections), "") or detect_title(text, path.stem)
    return Loaded([Document(source=key, title=title, text=text, path=shown, sections=tuple(sections))], notes)


def markdown_to_text(source: str) -> tuple[str, list[tuple[int, str]]]:
    """(plain text with blank lines between blocks, [(offset, heading)])."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(FRONT_MATTER.sub("", source, count=1))
    blocks: list[str] = []
    sections: list[tuple[int, str]] = []
    offset = 0
    row: list[str] | None = None
    in_heading = False
    for token in tokens:
        if token.type == "heading_open":
            in_heading = True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            text, row = " ".join(cell for cell in row if cell), None
            offset = _append(blocks, text, offset)
        elif token.type == "inline":
            text = inline_text(token)
            if row is not None:
                row.append(text)
                continue
            if in_heading and text:
                sections.append((offset, text))
            offset = _append(blocks, text, offset)
    return "\n\n".join(blocks), sections


def _append(blocks: list[str], text: str, offset: int) -> int:
    """Add a block; the offset where the next one will start."""
    if not text:
        return offset
    blocks.append(text)
    return offset + len(text) + 2


def inline_text(token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in INLINE_TEXT:
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)  # the alt text
    return " ".join("".join(parts).split(" ")).strip()
