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

    @property
    def digest(self) -> str:
        return content_hash(self.title + "\x00" + self.text)


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


def passage_id(source: str, ordinal: int) -> str:
    return f"{source}#{ordinal}"


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
