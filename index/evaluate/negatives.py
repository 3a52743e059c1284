"""Hard negatives for `semsearch tune --base --hard-negatives`: for each training pair, the passage BM25 ranks
highest for its query that is none of that query's own passages.

BM25 is the index's own (SQLite FTS5 with the same tokenizer, stop words and query form as
index/storage/store.py), over an in-memory table of every passage the training data knows (the pairs'
passages and the rest of their collections). A passage that shares the query's words but is not its answer
is what in-batch negatives rarely supply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from embed.train.pairs import TrainingPair
from index.evaluate.memory_bm25 import MemoryBM25

DEPTH = 10  # BM25 candidates looked at per query


def mine_bm25_negatives(pairs: Sequence[TrainingPair], corpus: Sequence[str] = ()) -> list[TrainingPair]:
    """``pairs`` with ``negative`` set where BM25 finds one (left None where it finds none)."""
    texts = list(dict.fromkeys([pair.passage for pair in pairs] + list(corpus)))
    position = {text: i for i, text in enumerate(texts)}
    own: dict[str, set[int]] = {}
    for pair in pairs:
        own.setdefault(pair.query, set()).add(position[pair.passage])
    with MemoryBM25(texts) as bm25:
        negative = {query: best_other(bm25, query, mine, texts) for query, mine in own.items()}
    return [replace(pair, negative=negative[pair.query]) for pair in pairs]


def best_other(bm25: MemoryBM25, query: str, mine: set[int], texts: list[str]) -> str | None:
    ranked = bm25.rank(query, DEPTH + len(mine))
    return next((texts[row] for row, _ in ranked if row not in mine), None)
