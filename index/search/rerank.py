"""Opt-in reranking: the top N hits of a search re-scored by a cross-encoder (``embed.encode.rerank``).

    reranker = load_reranker()                                   # embed.encode.rerank
    result = ask_reranked(searcher, "who built it?", reranker, k=5, top=30)

The search runs as usual but ``max(k, top)`` deep; the first ``top`` hits are scored by the cross-encoder
(query and passage read together, each passage cut to the model's token limit) and ordered by that
score; the result keeps the first ``k``. Hits past ``top`` keep their order (and search score) behind the
re-scored ones. ``top`` is bounded (MAX_TOP): a CPU cross-encoder costs tens of milliseconds per passage.
Any object with ``score(query, passages) -> list[float]`` can rerank.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from index.errors import BadQuery
from index.search.searcher import Hit, SearchResult

DEFAULT_TOP = 30
MAX_TOP = 200


class Scorer(Protocol):
    def score(self, query: str, passages: Sequence[str]) -> list[float]: ...


def check_top(top: int) -> int:
    if not 1 <= top <= MAX_TOP:
        raise BadQuery(f"--rerank-top must lie between 1 and {MAX_TOP} (got {top}): each passage costs a "
                       "cross-encoder pass")
    return top


def rerank_order(reranker: Scorer, query: str, texts: Sequence[str], top: int) -> list[tuple[int, float]]:
    """(index into ``texts``, cross-encoder score) of the first ``top`` texts, best first (ties: search order)."""
    head = list(texts[:top])
    scores = reranker.score(query, head)
    if len(scores) != len(head):
        raise ValueError(f"the reranker gave {len(scores)} scores for {len(head)} passages")
    return sorted(enumerate(scores), key=lambda item: (-item[1], item[0]))


def rerank_hits(reranker: Scorer, query: str, hits: list[Hit], top: int = DEFAULT_TOP) -> list[Hit]:
    """``hits`` with the first ``top`` re-scored and re-ordered by the cross-encoder; ranks renumbered."""
    check_top(top)
    order = rerank_order(reranker, query, [hit.text for hit in hits], top)
    head = [replace(hits[i], score=round(score, 6)) for i, score in order]
    return [replace(hit, rank=rank) for rank, hit in enumerate(head + hits[top:], start=1)]


def ask_reranked(searcher, question: str, reranker: Scorer, *, k: int = 5, mode: str = "auto",
                 top: int = DEFAULT_TOP) -> SearchResult:
    """``searcher.ask`` with its top ``top`` hits reranked; the first ``k`` are returned."""
    check_top(top)
    result = searcher.ask(question, k=max(k, top), mode=mode)
    return reranked_result(result, reranker, result.query, k, top)


def related_reranked(searcher, passage_id: str | None, reranker: Scorer, *, text: str | None = None, k: int = 5,
                     other_articles: bool = False, mode: str = "auto", top: int = DEFAULT_TOP) -> SearchResult:
    """``searcher.related`` with its top ``top`` hits reranked against the anchor passage (or text)."""
    check_top(top)
    result = searcher.related(passage_id, text=text, k=max(k, top), other_articles=other_articles, mode=mode)
    anchor = searcher.anchor(passage_id).passage.text if passage_id is not None else str(text).strip()
    return reranked_result(result, reranker, anchor, k, top)


def reranked_result(result: SearchResult, reranker: Scorer, query: str, k: int, top: int) -> SearchResult:
    """``result`` with its hits reranked and cut to ``k``; the time the cross-encoder took is timings_ms["rerank"]."""
    started = time.perf_counter()
    hits = rerank_hits(reranker, query, result.hits, top)[:k]
    timings = {**result.timings_ms, "rerank": (time.perf_counter() - started) * 1000.0}
    return SearchResult(result.query, f"{result.mode}+rerank", hits, result.notices, timings_ms=timings)
