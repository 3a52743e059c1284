"""BM25 over texts held in memory, for texts that are in no index: tune's hard negatives and its fusion choice.

It is the index's own lexical search (index/storage/store.py): SQLite FTS5 with the same tokenizer, stop
words and query form, scores negated so that higher is better, ties broken by position.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from index.storage.manifest import LEXICAL_TOKENIZE
from index.storage.store import fts_query, lexical_terms


class MemoryBM25:
    """An in-memory FTS5 table of ``texts``; ``rank`` answers with positions in ``texts``."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute(f"CREATE VIRTUAL TABLE passages USING fts5(text, tokenize='{LEXICAL_TOKENIZE}')")
        self.conn.executemany("INSERT INTO passages(rowid, text) VALUES (?, ?)", enumerate(texts))

    def rank(self, query: str, depth: int) -> list[tuple[int, float]]:
        """[(position, score)], best first, at most ``depth``; [] when the query has no searchable word."""
        terms = lexical_terms(query)
        if not terms or depth <= 0:
            return []
        rows = self.conn.execute(
            "SELECT rowid, bm25(passages) AS s FROM passages WHERE passages MATCH ? ORDER BY s, rowid LIMIT ?",
            (fts_query(terms), depth),
        )
        return [(int(row), -float(score)) for row, score in rows]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> MemoryBM25:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
