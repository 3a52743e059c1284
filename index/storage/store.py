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
    text TEXT NOT NULL, digest TEXT NOT NULL, page INTEGER
);
CREATE INDEX IF NOT EXISTS passages_source ON passages(source);
CREATE INDEX IF NOT EXISTS passages_digest ON passages(digest);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    title, text, content='passages', content_rowid='pk', tokenize='{LEXICAL_TOKENIZE}'
);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_cjk USING fts5(title, text, tokenize='unicode61');
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
PASSAGE_COLUMNS = 'pk, id, source, title, ordinal, start, "end", text, digest, page'
OLD_PASSAGE_COLUMNS = 'pk, id, source, title, ordinal, start, "end", text, digest, NULL'  # before pages
# Chinese, Japanese and Korean are written without spaces between words, so unicode61 makes a whole run
# one token and BM25 never matches part of it. Runs of these scripts are also indexed as overlapping
# character bigrams (as Lucene's CJKAnalyzer does) in passages_cjk; most CJK words are 2 characters,
# which FTS5's trigram tokenizer cannot match.
CJK_RUN = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]+"
)
CJK_DEPTH = 100  # candidates from each table before their scores are added


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
        upgrade_schema(conn)
        conn.executescript(SCHEMA)
    return conn


def index_cjk(conn: sqlite3.Connection, pk: int, title: str, text: str) -> None:
    if CJK_RUN.search(title) or CJK_RUN.search(text):
        conn.execute(
            "INSERT INTO passages_cjk(rowid, title, text) VALUES (?, ?, ?)",
            (pk, " ".join(cjk_bigrams(title)), " ".join(cjk_bigrams(text))),
        )


def cjk_bigrams(text: str) -> list[str]:
    """Overlapping character pairs of each CJK run ("東京タワー" -> 東京 京タ タワ ワー); a lone character as is."""
    grams: list[str] = []
    for run in CJK_RUN.findall(text):
        grams.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
    return grams


def lexical_terms(question: str) -> list[str]:
    """The words of a natural-language question, stop words dropped (unless nothing else is left).

    CJK runs are left out here: they are matched as bigrams (``cjk_bigrams``)."""
    words = [w.lower() for w in WORD.findall(CJK_RUN.sub(" ", question))]
    kept = [w for w in words if w not in STOP_WORDS] or words
    return list(dict.fromkeys(kept))


def fts_query(terms: Sequence[str]) -> str:
    """OR of quoted terms: no user punctuation can reach FTS5's query syntax."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def _row_to_passage(row: tuple) -> StoredPassage:
    pk, pid, source, title, ordinal, start, end, text, digest, page = row
    return StoredPassage(pk, Passage(pid, source, title, ordinal, start, end, text, page), digest)


def upgrade_schema(conn: sqlite3.Connection) -> None:
    """Bring a passage file written before pages and CJK bigrams up to the current SCHEMA."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "passages" not in tables:
        return
    if "page" not in {row[1] for row in conn.execute("PRAGMA table_info(passages)")}:
        conn.execute("ALTER TABLE passages ADD COLUMN page INTEGER")
    if "passages_cjk" not in tables:
        conn.executescript(SCHEMA)
        rows = conn.execute("SELECT pk, title, text FROM passages").fetchall()
        for pk, title, text in rows:
            index_cjk(conn, pk, title, text)


class Store:
    """Thin typed access to the SQLite file of one index generation."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self.has_cjk = "passages_cjk" in tables  # files written before CJK bigrams (read-only) lack it
        columns = {row[1] for row in conn.execute("PRAGMA table_info(passages)")}
        self.columns = PASSAGE_COLUMNS if "page" in columns or not columns else OLD_PASSAGE_COLUMNS

    def close(self) -> None:
        self.conn.close()

    def documents(self) -> dict[str, StoredDocument]:
        rows = self.conn.execute("SELECT source, path, title, digest, chunker, passages FROM documents")
        return {row[0]: StoredDocument(*row) for row in rows}

    def passages_of(self, source: str) -> list[StoredPassage]:
        rows = self.conn.execute(
            f"SELECT {self.columns} FROM passages WHERE source = ? ORDER BY ordinal", (source,)
        )
        return [_row_to_passage(r) for r in rows]

    def neighbour_ids(self, source: str, ordinal: int) -> tuple[str | None, str | None]:
        """The ids of the passages just before and after ``ordinal`` in ``source`` (None at either end)."""
        query = "SELECT id FROM passages WHERE source = ? AND ordinal {} ? ORDER BY ordinal {} LIMIT 1"
        before = self.conn.execute(query.format("<", "DESC"), (source, ordinal)).fetchone()
        after = self.conn.execute(query.format(">", "ASC"), (source, ordinal)).fetchone()
        return (before[0] if before else None), (after[0] if after else None)

    def passages_by_pk(self, pks: Iterable[int]) -> dict[int, StoredPassage]:
        pks = [int(p) for p in pks]
        found: dict[int, StoredPassage] = {}
        for i in range(0, len(pks), 500):
            chunk = pks[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(f"SELECT {self.columns} FROM passages WHERE pk IN ({marks})", chunk)
            found.update((r[0], _row_to_passage(r)) for r in rows)
        return found

    def passage_by_id(self, passage_id: str) -> StoredPassage | None:
        row = self.conn.execute(f"SELECT {self.columns} FROM passages WHERE id = ?", (passage_id,)).fetchone()
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
        self.conn.execute("DELETE FROM passages_cjk WHERE rowid IN (SELECT pk FROM passages WHERE source = ?)", (source,))
        self.conn.execute("DELETE FROM passages WHERE source = ?", (source,))
        self.conn.execute("DELETE FROM documents WHERE source = ?", (source,))

    def delete_passages(self, pks: Sequence[int]) -> None:
        self.conn.executemany("DELETE FROM passages_cjk WHERE rowid = ?", [(int(p),) for p in pks])
        self.conn.executemany("DELETE FROM passages WHERE pk = ?", [(int(p),) for p in pks])

    def insert_passage(self, passage: Passage) -> int:
        cur = self.conn.execute(
            'INSERT INTO passages (id, source, title, ordinal, start, "end", text, digest, page) '
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (passage.id, passage.source, passage.title, passage.ordinal, passage.start, passage.end,
             passage.text, passage.digest, passage.page),
        )
        pk = int(cur.lastrowid)
        index_cjk(self.conn, pk, passage.title, passage.text)
        return pk

    def put_document(self, doc: StoredDocument) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO documents (source, path, title, digest, chunker, passages) VALUES (?,?,?,?,?,?)",
            (doc.source, doc.path, doc.title, doc.digest, doc.chunker, doc.passages),
        )

    def lexical_search(self, question: str, k: int, *, title_weight: float = 1.0) -> list[tuple[int, float]]:
        """BM25 over title and text: [(pk, score)], best first, higher is better.

        Words go to the unicode61 table; CJK runs, as bigrams, to passages_cjk; a passage found by both
        gets the sum of its two scores."""
        terms, grams = lexical_terms(question), list(dict.fromkeys(cjk_bigrams(question)))
        if k <= 0 or not (terms or grams):
            return []
        depth = max(k, CJK_DEPTH) if terms and grams else k
        scores: dict[int, float] = {}
        for table, query in (("passages_fts", terms), ("passages_cjk", grams if self.has_cjk else [])):
            if not query:
                continue
            rows = self.conn.execute(
                f"SELECT rowid, bm25({table}, ?, 1.0) AS s FROM {table} WHERE {table} MATCH ? ORDER BY s, rowid LIMIT ?",
                (title_weight, fts_query(query), depth),
            )
            for pk, score in rows:
                scores[int(pk)] = scores.get(int(pk), 0.0) - float(score)
        return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))[:k]
