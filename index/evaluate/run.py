"""A benchmark's queries against an opened index: one at a time, each step timed, hits collapsed to documents.

Per query: ``encode_queries([q])`` (timed), then FAISS and/or BM25 over passages (timed), deep enough
that the passages name at least k documents. A document's score is its best passage's score.
Hybrid fuses the *passage* rankings (as ``Searcher.hybrid_pairs`` does for `semsearch ask`) and then
collapses the fused list to documents, so the benchmark measures what users get; its latency is
encode + dense search + lexical search + fusion. Dense and lexical are searched once per query and
shared by every row that needs them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from index.evaluate.bench import ModeResult, fusion_label
from index.search.fusion import FusionConfig, fuse_hits
from index.ann.vectors import search_faiss

Pairs = list[tuple[int, float]]
DEPTH_FACTOR = 2  # passages searched per wanted document, times the mean passages per document
PROGRESS_STEPS = 500


@dataclass(frozen=True)
class QueryPlan:
    k: int
    lexical: bool  # a lexical row
    dense: bool  # a dense row
    fusions: tuple[FusionConfig, ...]  # one hybrid row each

    @property
    def needs_dense(self) -> bool:
        return self.dense or bool(self.fusions)

    @property
    def needs_lexical(self) -> bool:
        return self.lexical or bool(self.fusions)


def collapse(pairs: Pairs, source_of: Mapping[int, str], k: int | None = None) -> dict[str, float]:
    """Passage hits -> {document: score of its best passage}, the top ``k`` documents (score, then id)."""
    docs: dict[str, float] = {}
    for pk, score in pairs:
        doc = source_of[pk]
        if doc not in docs or score > docs[doc]:
            docs[doc] = score
    if k is not None and len(docs) > k:
        docs = dict(sorted(docs.items(), key=lambda item: (-item[1], item[0]))[:k])
    return docs


def deepening(search: Callable[[int], Pairs], source_of: Mapping[int, str], k: int, depth: int) -> Pairs:
    """``search(depth)`` passages, 4x deeper each time until they hold k documents or nothing more comes."""
    while True:
        pairs = search(depth)
        if len(pairs) < depth or len({source_of[pk] for pk, _ in pairs}) >= k:
            return pairs
        depth *= 4


def initial_depth(k: int, passages: int, documents: int) -> int:
    per_doc = passages / documents if documents else 1.0
    return max(k, math.ceil(k * per_doc * DEPTH_FACTOR))


class QueryRunner:
    """Answers one query text for every row of a plan; returns row key -> (passage pairs, encode ms, search ms)."""

    def __init__(self, reader, encoder, plan: QueryPlan) -> None:
        self.store = reader.store
        self.encoder = encoder
        self.plan = plan
        self.faiss = reader.faiss_index if plan.needs_dense else None
        self.source_of = dict(self.store.conn.execute("SELECT pk, source FROM passages"))
        self.depth = initial_depth(plan.k, len(self.source_of), len(set(self.source_of.values())))
        approximate = self.faiss is not None and not self.faiss.spec.exact
        self.query_vectors: list[np.ndarray] | None = [] if approximate else None  # for approx_recall

    def warm_up(self, text: str) -> None:
        """One untimed query, so one-off start-up costs (first torch call) do not land on query 1."""
        if self.plan.needs_dense:
            self.encoder.encode_queries([text])

    def dense_search(self, vector: np.ndarray, depth: int) -> Pairs:
        scores, pks = search_faiss(self.faiss, vector[None, :], depth)
        return [(int(p), float(s)) for p, s in zip(pks[0], scores[0]) if p >= 0]

    def answer(self, text: str) -> dict[str, tuple[Pairs, float, float]]:
        plan, out = self.plan, {}
        encode_ms = dense_ms = lexical_ms = 0.0
        dense = lexical = []
        if plan.needs_dense:
            started = time.perf_counter()
            vector = self.encoder.encode_queries([text])[0]
            encode_ms = elapsed_ms(started)
            if self.query_vectors is not None:
                self.query_vectors.append(vector)
            started = time.perf_counter()
            dense = deepening(lambda d: self.dense_search(vector, d), self.source_of, plan.k, self.depth)
            dense_ms = elapsed_ms(started)
            if plan.dense:
                out["dense"] = (dense, encode_ms, dense_ms)
        if plan.needs_lexical:
            started = time.perf_counter()
            lexical = deepening(lambda d: self.store.lexical_search(text, d), self.source_of, plan.k, self.depth)
            lexical_ms = elapsed_ms(started)
            if plan.lexical:
                out["lexical"] = (lexical, 0.0, lexical_ms)
        for fusion in plan.fusions:
            started = time.perf_counter()
            fused = fuse_hits(fusion, dict(dense), dict(lexical))
            fuse_ms = elapsed_ms(started)
            out[f"hybrid {fusion_label(fusion)}"] = (fused, encode_ms, dense_ms + lexical_ms + fuse_ms)
        return out


def run_queries(reader, queries: Mapping[str, str], qrels, encoder, plan: QueryPlan, progress, *, keep_runs: bool):
    """Every query through every row of ``plan``: (row key -> ModeResult with metrics and latencies,
    recall@10 of an approximate or compact dense index against exact search on the same queries, else None)."""
    from index.evaluate.metrics import evaluate

    runner = QueryRunner(reader, encoder, plan)
    if queries:
        runner.warm_up(next(iter(queries.values())))
    runs: dict[str, dict[str, dict[str, float]]] = {}
    times: dict[str, list[tuple[float, float]]] = {}
    total, step = len(queries), max(1, len(queries) // PROGRESS_STEPS)
    for done, (qid, text) in enumerate(queries.items(), 1):
        for key, (pairs, encode_ms, search_ms) in runner.answer(text).items():
            runs.setdefault(key, {})[qid] = collapse(pairs, runner.source_of, plan.k)
            times.setdefault(key, []).append((encode_ms, search_ms))
        if progress and (done % step == 0 or done == total):
            progress("querying", done, total)
    results = {}
    for key, run in runs.items():
        mode, _, fusion = key.partition(" ")
        results[key] = ModeResult(
            mode, fusion or None, metrics=evaluate(qrels, run), latency_ms=latencies(times[key]),
            run=run if keep_runs else None,
        )
    return results, approx_recall(reader, runner.query_vectors)


def approx_recall(reader, query_vectors: list[np.ndarray] | None) -> float | None:
    """Mean share of each query's exact top-10 passages (numpy/BLAS over vectors.npy) that the index returned."""
    from index.ann.search import recall_at_k

    if not query_vectors:
        return None
    vectors, ids = reader.vectors()
    return recall_at_k(reader.faiss_index, vectors, ids, np.stack(query_vectors), 10)


def latencies(samples: list[tuple[float, float]]) -> dict[str, float]:
    """p50 of encoding and of search, and p50/p95/p99/mean of the whole query (ms)."""
    from index.evaluate.report import latency_summary

    encode = latency_summary([e for e, _ in samples])
    search = latency_summary([s for _, s in samples])
    whole = latency_summary([e + s for e, s in samples])
    return {
        "encode_p50": encode["p50"], "search_p50": search["p50"],
        "p50": whole["p50"], "p95": whole["p95"], "p99": whole["p99"], "mean": whole["mean"],
    }


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
