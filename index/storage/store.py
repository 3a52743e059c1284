"""Passages, documents and the BM25 lexical index, kept together in one SQLite file (FTS5)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from embed.records import Passage
from index.storage.manifest import LEXICAL_TOKENIZE

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY, path TEXT NOT NULL, title TEXT NOT NULL,
    digest TEXT NOT NULL, chunker TEXT NOT NULL, passages INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    pk INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, source TEXT NOT NULL,
    title TEXT NOT NULL, ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    text TEXT NOT NULL, digest TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_source ON passages(source);
CREATE INDEX IF NOT EXISTS passages_digest ON passages(digest);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    title, text, content='passages', content_rowid='pk', tokenize='{LEXICAL_TOKENIZE}'
);
CREATE TRIGGER IF NOT EXISTS passages_ai AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts(rowid, title, text) VALUES (new.pk, new.title, new.text);
END;
CREATE TRIGGER IF NOT EXISTS passages_ad AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, title, text) VALUES ('delete', old.pk, old.title, old.text);
END;
"""

# A short English stop list (Lucene's classic set plus a few question words): dropped from questions
# before BM25 so that "what is the ..." does not rank by "the".
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "
    "these they this to was will with what which who whom whose when where why how does do did i you "
    "he she we me my our your its from has have had been were can could would should about".split()
)
WORD = re.compile(r"\w+", re.UNICODE)
PASSAGE_COLUMNS = 'pk, id, source, title, ordinal, start, "end", text, digest'


@dataclass(frozen=True)
class StoredDocument:
    source: str
    path: str
    title: str
    digest: str
    chunker: str
    passages: int


@dataclass(frozen=True)
class StoredPassage:
    pk: int
    passage: Passage
    digest: str


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    else:
        conn = sqlite3.connect(path)
        conn.executescript(SCHEMA)
    return conn


def lexical_terms(question: str) -> list[str]:
    """The words of a natural-language question, stop words dropped (unless nothing else is left)."""
    words = [w.lower() for w in WORD.findall(question)]
    kept = [w for w in words if w not in STOP_WORDS] or words
    return list(dict.fromkeys(kept))


def fts_query(terms: Sequence[str]) -> str:
    """OR of quoted terms: no user punctuation can reach FTS5's query syntax."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def _row_to_passage(row: tuple) -> StoredPassage:
    pk, pid, source, title, ordinal, start, end, text, digest = row
    return StoredPassage(pk, Passage(pid, source, title, ordinal, start, end, text), digest)


class Store:
    """Thin typed access to the SQLite file of one index generation."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    def documents(self) -> dict[str, StoredDocument]:
        rows = self.conn.execute("SELECT source, path, title, digest, chunker, passages FROM documents")
        return {row[0]: StoredDocument(*row) for row in rows}

    def passages_of(self, source: str) -> list[StoredPassage]:
        rows = self.conn.execute(
            f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE source = ? ORDER BY ordinal", (source,)
        )
        return [_row_to_passage(r) for r in rows]

    def passages_by_pk(self, pks: Iterable[int]) -> dict[int, StoredPassage]:
        pks = [int(p) for p in pks]
        found: dict[int, StoredPassage] = {}
        for i in range(0, len(pks), 500):
            chunk = pks[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE pk IN ({marks})", chunk)
            found.update((r[0], _row_to_passage(r)) for r in rows)
        return found

    def passage_by_id(self, passage_id: str) -> StoredPassage | None:
        row = self.conn.execute(f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE id = ?", (passage_id,)).fetchone()
        return _row_to_passage(row) if row else None

    def similar_ids(self, passage_id: str, limit: int = 1) -> list[str]:
        source = passage_id.split("#", 1)[0]
        rows = self.conn.execute("SELECT id FROM passages WHERE source = ? ORDER BY ordinal LIMIT ?", (source, limit))
        return [r[0] for r in rows]

    def pks_of(self, source: str) -> set[int]:
        return {int(r[0]) for r in self.conn.execute("SELECT pk FROM passages WHERE source = ?", (source,))}

    def pks_and_digests(self) -> list[tuple[int, str]]:
        return list(self.conn.execute("SELECT pk, digest FROM passages ORDER BY pk"))

    def count(self, table: str) -> int:
        if table not in {"documents", "passages"}:
            raise ValueError(table)
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def delete_document(self, source: str) -> None:
        self.conn.execute("DELETE FROM passages WHERE source = ?", (source,))
        self.conn.execute("DELETE FROM documents WHERE source = ?", (source,))

    def delete_passages(self, pks: Sequence[int]) -> None:
        self.conn.executemany("DELETE FROM passages WHERE pk = ?", [(int(p),) for p in pks])

    def insert_passage(self, passage: Passage) -> int:
        cur = self.conn.execute(
            'INSERT INTO passages (id, source, title, ordinal, start, "end", text, digest) VALUES (?,?,?,?,?,?,?,?)',
            (passage.id, passage.source, passage.title, passage.ordinal, passage.start, passage.end,
             passage.text, passage.digest),
        )
        return int(cur.lastrowid)

    def put_document(self, doc: StoredDocument) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO documents (source, path, title, digest, chunker, passages) VALUES (?,?,?,?,?,?)",
            (doc.source, doc.path, doc.title, doc.digest, doc.chunker, doc.passages),
        )

    def lexical_search(self, question: str, k: int, *, title_weight: float = 1.0) -> list[tuple[int, float]]:
        """BM25 over title and text: [(pk, score)], best first, higher is better."""
        terms = lexical_terms(question)
        if not terms or k <= 0:
            return []
        rows = self.conn.execute(
            "SELECT rowid, bm25(passages_fts, ?, 1.0) AS s FROM passages_fts WHERE passages_fts MATCH ? "
            "ORDER BY s, rowid LIMIT ?",
            (title_weight, fts_query(terms), k),
        )
        return [(int(pk), -float(score)) for pk, score in rows]
