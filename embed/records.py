"""Plain records passed between the pipeline stages: documents, passages, chunker settings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    """One document: a text file, or one line of a .jsonl file.

    ``source`` is the stable key of the document (a display path such as ``seeds/a.txt``, or
    ``corpus.jsonl:4983`` for a jsonl line); passage ids are ``<source>#<n>``.
    ``path`` is the file the document came from.
    """

    source: str
    title: str
    text: str
    path: str
    # where page n+1 starts in ``text`` (PDFs): passages know their page; () for formats without pages
    pages: tuple[int, ...] = ()
    # (offset, heading) of each section (Word / Markdown headings): a passage's title names its section
    sections: tuple[tuple[int, str], ...] = ()

    @property
    def digest(self) -> str:
        extra = repr((self.pages, self.sections)) if self.pages or self.sections else ""
        return content_hash(self.title + "\x00" + self.text + extra)


@dataclass(frozen=True)
class Passage:
    """A contiguous span ``text[start:end]`` of a document, small enough for the model."""

    id: str
    source: str
    title: str
    ordinal: int
    start: int
    end: int
    text: str
    page: int | None = None  # 1-based page of the passage's start (PDFs); None where pages do not exist

    @property
    def digest(self) -> str:
        return content_hash(self.text)


@dataclass(frozen=True)
class ChunkerSettings:
    """Everything that decides how documents are cut into passages (recorded in the manifest)."""

    max_tokens: int  # hard cap on a passage, in the model tokenizer's tokens (prompt + specials excluded)
    min_tokens: int = 48  # passages shorter than this join a neighbour when the result still fits
    tokenizer: str = "approx"  # what counted the tokens: a model id, or "approx" (offline heuristic)
    version: int = 1  # bump when the chunking algorithm changes


@dataclass(frozen=True)
class Note:
    """Something a reader did to a file without losing it (bytes replaced, a jsonl line skipped, ...).

    ``where`` is the file as shown to the user, or ``file:line``; indexing prints one warning per note.
    """

    where: str
    message: str
    skipped: bool = False  # True: something was left out (a jsonl line); False: read, with a warning


def passage_id(source: str, ordinal: int) -> str:
    return f"{source}#{ordinal}"


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
