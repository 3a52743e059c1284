"""Find input files and turn them into documents (.txt/.md, .html/.htm, .jsonl; other files as text)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

from embed.errors import PathNotFound, UnreadableFile
from embed.records import Document

SUPPORTED_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".jsonl"})
_HTML_SUFFIXES = frozenset({".html", ".htm"})
_SNIFF_BYTES = 8192
_TITLE_LINES = 6
_TITLE_WORDS, _TITLE_CHARS = 20, 200

_MONTHS_DAYS = re.compile(
    r"\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?"
    r"|thu(?:rs(?:day)?)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?)\b",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"\b\d{1,2}:\d{2}\b")
_KEY_VALUE = re.compile(r"^[^:]{1,40}\s:\s*\S*\d\S*$|^[^:]{1,40}:\s*\d[\d\s/.-]*$")
_SENTENCE_END = re.compile(r"[.;:,][\"'\u201d\u2019)\]]*$")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+")
_NEWLINES = re.compile(r"\r\n?")
_SKIPPED = "whole file skipped"


def discover_files(paths: Sequence[str | Path]) -> list[Path]:
    """Files named, plus supported files under directories named (recursive, sorted, hidden skipped)."""
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise PathNotFound(str(raw))
        for file in _walk(path) if path.is_dir() else [path]:
            key = Path(os.path.abspath(file))
            if key not in seen:
                seen.add(key)
                found.append(file)
    return found


def _walk(root: Path) -> list[Path]:
    files: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                files.append(Path(folder) / name)
    return sorted(files, key=lambda file: file.parts)


def display_path(path: Path) -> str:
    """``path`` relative to the current directory when inside it (posix form), else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_posix()


def load_documents(path: Path) -> list[Document]:
    """The documents of one file; raises UnreadableFile when the file cannot become any."""
    shown = display_path(path)
    text = _read_text(path, shown)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _load_jsonl(text, path, shown)
    if suffix in _HTML_SUFFIXES:
        title, text = extract_html(text)
        if not text:
            raise UnreadableFile(shown, "no visible text")
        return [Document(source=shown, title=title or path.stem, text=text, path=shown)]
    return [Document(source=shown, title=detect_title(text, path.stem), text=text, path=shown)]


def _read_text(path: Path, shown: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableFile(shown, f"cannot read ({error.strerror or error})") from error
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise UnreadableFile(shown, "binary file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile(shown, "not UTF-8 text") from error
    if not text.strip():
        raise UnreadableFile(shown, "empty file")
    return _NEWLINES.sub("\n", text)


def _load_jsonl(text: str, path: Path, shown: str) -> list[Document]:
    documents: list[Document] = []
    seen: set[str] = set()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        record_id, title, body = _parse_record(line, number, shown)
        if record_id in seen:
            raise UnreadableFile(shown, f"line {number}: duplicate id {record_id!r}; {_SKIPPED}")
        seen.add(record_id)
        if body.strip():
            source = f"{shown}:{record_id}"
            title = title or detect_title(body, f"{path.stem}:{record_id}")
            documents.append(Document(source=source, title=title, text=body, path=shown))
    if not documents:
        raise UnreadableFile(shown, "empty file")
    return documents


def _parse_record(line: str, number: int, shown: str) -> tuple[str, str, str]:
    """(id, title, text) of one jsonl line; ``id`` (or BEIR's ``_id``) defaults to the line number."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        reason = f"line {number}: not valid JSON ({error.msg}); {_SKIPPED}"
        raise UnreadableFile(shown, reason) from error
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise UnreadableFile(shown, f"line {number}: no \"text\" string; {_SKIPPED}")
    record_id = record.get("id", record.get("_id", number))
    if not isinstance(record_id, (str, int)) or isinstance(record_id, bool) or str(record_id) == "":
        raise UnreadableFile(shown, f"line {number}: \"id\" must be a string or an integer; {_SKIPPED}")
    title = record.get("title")
    title = title.strip() if isinstance(title, str) else ""
    return str(record_id), title, _NEWLINES.sub("\n", record["text"])


def detect_title(text: str, fallback: str) -> str:
    """The headline of a news-like text: a short unfinished line near the top, past datelines."""
    lines = [_MARKDOWN_HEADING.sub("", line.strip()) for line in text.split("\n")]
    lines = [line for line in lines if line][:_TITLE_LINES]
    candidates = [line for line in lines if not _is_metadata(line)]
    if not candidates:
        return fallback
    for line in candidates:
        if candidates.count(line) > 1 and _is_headline(line):
            return line
    return candidates[0] if _is_headline(candidates[0]) else fallback


def _is_metadata(line: str) -> bool:
    """Datelines, clock times and ``Story Code : 1082204``-style key/value lines."""
    if len(line) > _TITLE_CHARS:
        return False
    has_digit = any(ch.isdigit() for ch in line)
    return bool(
        (has_digit and _MONTHS_DAYS.search(line) and len(line.split()) <= 8)
        or _CLOCK.search(line)
        or _KEY_VALUE.match(line)
        or not any(ch.isalpha() for ch in line)
    )


def _is_headline(line: str) -> bool:
    return len(line.split()) <= _TITLE_WORDS and len(line) <= _TITLE_CHARS and not _SENTENCE_END.search(line)


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
