"""A benchmark's queries asked through the product's own ``Searcher.ask``, timed, hits collapsed to documents.

Each row (lexical, dense, one hybrid per fusion) is a ``Searcher`` over the same opened index, asked
``ask(text, k=depth, mode=row)`` exactly as `semsearch ask` is, deep enough that the passages name at
least k documents. A document's score is its best passage's score. Latency is what ``ask`` reports
(``SearchResult.timings_ms``): encoding the question, and everything else (search, fusion, reading the
hits). Every row encodes its own question, as a user's process would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from index.evaluate.results import ModeResult
from index.search.fusion import FusionConfig

Pairs = list[tuple[str, float]]  # (document, passage score), best first
DEPTH_FACTOR = 2  # passages searched per wanted document, times the mean passages per document
PROGRESS_STEPS = 500


@dataclass(frozen=True)
class Row:
    key: str  # "lexical" | "dense" | "hybrid rrf:10" ...
    mode: str  # the mode ``ask`` runs
    fusion: FusionConfig | None = None
    rerank: object | None = None  # a cross-encoder (``score(query, passages)``): the top hits re-scored
    rerank_top: int = 30


def plan_rows(modes: Sequence[str], fusions: Sequence[FusionConfig], dense: bool) -> list[Row]:
    """The rows to ask: lexical always when named; dense and hybrid only with a query encoder."""
    rows = [Row("lexical", "lexical")] if "lexical" in modes else []
    if dense and "dense" in modes:
        rows.append(Row("dense", "dense"))
    if dense and "hybrid" in modes:
        rows += [Row(f"hybrid {f.label()}", "hybrid", f) for f in fusions]
    return rows


def collapse(pairs: Pairs, k: int | None = None) -> dict[str, float]:
    """(document, passage score) hits -> {document: its best passage's score}, the top ``k`` (score, then id)."""
    docs: dict[str, float] = {}
    for doc, score in pairs:
        if doc not in docs or score > docs[doc]:
            docs[doc] = score
    if k is not None and len(docs) > k:
        docs = dict(sorted(docs.items(), key=lambda item: (-item[1], item[0]))[:k])
    return docs


def deepening(search: Callable[[int], Pairs], k: int, depth: int) -> Pairs:
    """``search(depth)`` passages, 4x deeper each time until they hold k documents or nothing more comes."""
    while True:
        pairs = search(depth)
        if len(pairs) < depth or len({doc for doc, _ in pairs}) >= k:
            return pairs
        depth *= 4


def initial_depth(k: int, passages: int, documents: int) -> int:
    per_doc = passages / documents if documents else 1.0
    return max(k, math.ceil(k * per_doc * DEPTH_FACTOR))


class Asker:
    """One row: asks ``Searcher.ask`` for a query text; returns its passages and the (encode, search) ms."""

    def __init__(self, reader, encoder, row: Row) -> None:
        from index.search.searcher import Searcher

        self.row = row
        self.searcher = Searcher(reader, encoder_loader=lambda _model: encoder, fusion=row.fusion)

    def ask(self, text: str, k: int, depth: int) -> tuple[Pairs, float, float]:
        timings = {"encode": 0.0, "search": 0.0}

        def search(d: int) -> Pairs:
            if self.row.rerank is None:
                result = self.searcher.ask(text, k=d, mode=self.row.mode)
            else:
                from index.search.rerank import ask_reranked

                result = ask_reranked(self.searcher, text, self.row.rerank, k=d, mode=self.row.mode,
                                      top=self.row.rerank_top)
            for part, ms in result.timings_ms.items():  # reranking counts as search
                timings["encode" if part == "encode" else "search"] += ms
            if self.row.rerank is not None:  # the order is the result: cross-encoder and search scores don't mix
                return [(hit.source, -float(hit.rank)) for hit in result.hits]
            return [(hit.source, hit.score) for hit in result.hits]

        pairs = deepening(search, k, depth)
        return pairs, timings["encode"], timings["search"]


def run_queries(reader, queries: Mapping[str, str], qrels, encoder, rows: Sequence[Row], k: int, progress, *,
                keep_runs: bool):
    """Every query through every row: (row key -> ModeResult with metrics and latencies, recall@10 of an
    approximate or compact dense index against exact search on the same queries, else None)."""
    from index.evaluate.metrics import evaluate

    if encoder is not None:  # questions are encoded the way `ask` encodes them: the index's lean encoder
        from index.search.query_encoder import choose_encoder

        encoder, _ = choose_encoder(reader.directory, reader.manifest)
    askers = [Asker(reader, encoder, row) for row in rows]
    counts = reader.manifest.counts
    depth = initial_depth(k, counts.passages, counts.documents)
    if queries and encoder is not None and any(row.mode != "lexical" for row in rows):
        encoder.encode_queries([next(iter(queries.values()))])  # untimed: one-off start-up costs (first call)
    recall_from = dense_asker(reader, askers)
    vectors: list[np.ndarray] = []
    runs: dict[str, dict[str, dict[str, float]]] = {row.key: {} for row in rows}
    times: dict[str, list[tuple[float, float]]] = {row.key: [] for row in rows}
    total, step = len(queries), max(1, len(queries) // PROGRESS_STEPS)
    for done, (qid, text) in enumerate(queries.items(), 1):
        for asker in askers:
            pairs, encode_ms, search_ms = asker.ask(text, k, depth)
            runs[asker.row.key][qid] = collapse(pairs, k)
            times[asker.row.key].append((encode_ms, search_ms))
        if recall_from is not None:  # the vector its search used (kept by the searcher, not encoded again)
            vectors.append(recall_from.searcher.query_vector(text.strip()))
        if progress and (done % step == 0 or done == total):
            progress("querying", done, total)
    results = {}
    for row in rows:
        label = " ".join(filter(None, [row.fusion.label() if row.fusion else None, row.rerank and "+rerank"]))
        results[row.key] = ModeResult(
            "hybrid" if row.fusion else row.mode, label or None,
            metrics=evaluate(qrels, runs[row.key]), latency_ms=latencies(times[row.key]),
            run=runs[row.key] if keep_runs else None,
        )
    return results, approx_recall(reader, vectors)


def dense_asker(reader, askers: Sequence[Asker]) -> Asker | None:
    """A row whose question vectors measure an approximate dense index's recall; None when it is exact."""
    dense = [a for a in askers if a.row.mode != "lexical"]
    if not dense or not reader.has_vectors or reader.faiss_index.spec.exact:
        return None
    return dense[0]


def approx_recall(reader, vectors: list[np.ndarray] | None) -> float | None:
    """Mean share of each query's exact top-10 passages (numpy/BLAS over vectors.npy) that the index returned."""
    from index.ann.recall import recall_at_k

    if not vectors:
        return None
    stored, ids = reader.vectors()
    return recall_at_k(reader.faiss_index, stored, ids, np.stack(vectors), 10)


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
