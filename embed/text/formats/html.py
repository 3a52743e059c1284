"""HTML pages (.html, .htm): visible text, paragraph breaks at block elements, <title> or first <h1>."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from embed.errors import UnreadableFile
from embed.records import Document
from embed.text.formats.plain import Loaded, decode_file


def read(path: Path, key: str, shown: str) -> Loaded:
    text, notes = decode_file(path, shown)
    title, text = extract_html(text)
    if not text:
        raise UnreadableFile(shown, "no visible text")
    return Loaded([Document(source=key, title=title or path.stem, text=text, path=shown)], notes)


class _VisibleText(HTMLParser):
    """Collects visible text (paragraph breaks at block elements) and the <title> / first <h1>."""

    _HIDDEN = frozenset({"script", "style", "head", "noscript", "template"})
    _BLOCKS = frozenset(
        "p div h1 h2 h3 h4 h5 h6 li br tr section article header footer main nav aside ul ol table "
        "blockquote pre hr dd dt figure figcaption form".split()
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[list[str]] = [[]]
        self.title: list[str] = []
        self.heading: list[str] = []
        self._hidden = 0
        self._in_title = False
        self._in_h1 = False
        self._h1_done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS:
            self.blocks.append([])
        self._in_title = self._in_title or tag == "title"
        if tag == "h1" and not self._h1_done:
            self._in_h1 = True

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCKS:
            self.blocks.append([])
        if tag == "title":
            self._in_title = False
        if tag == "h1" and self._in_h1:
            self._in_h1, self._h1_done = False, True

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._hidden:
            self.blocks[-1].append(data)
            if self._in_h1:
                self.heading.append(data)


def extract_html(markup: str) -> tuple[str, str]:
    """(title, visible text) of an HTML page; paragraphs separated by blank lines."""
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    paragraphs = (" ".join("".join(parts).split()) for parts in parser.blocks)
    text = "\n\n".join(paragraph for paragraph in paragraphs if paragraph)
    title = " ".join("".join(parser.title).split()) or " ".join("".join(parser.heading).split())
    return title, text
