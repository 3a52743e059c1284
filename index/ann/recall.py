"""Recall of a dense index against exact search: the check behind every approximate kind (tests, bench)."""

from __future__ import annotations

import numpy as np

from index.ann.faiss_common import blas_for_batches
from index.ann.search import pk_order, rows_of_pks


def exact_topk_batch(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int,
                     *, with_scores: bool = False):
    """The exact top-k pks per query (BLAS inner products over the float32 vectors); with_scores: (scores, pks)."""
    import faiss

    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    with blas_for_batches(queries.shape[1]):
        scores, rows = faiss.knn(queries, np.ascontiguousarray(vectors, dtype=np.float32), k,
                                 metric=faiss.METRIC_INNER_PRODUCT)
    pks = np.where(rows >= 0, np.asarray(ids)[rows.clip(0)], -1)
    return (scores, pks) if with_scores else pks


def recall_at_k(index, vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int = 10,
                tie: float = 1e-6) -> float:
    """Mean share of the exact top-k that ``index.search.searcher`` returns in its top k.

    A returned pk counts when its exact score reaches the exact k-th best (within ``tie``): with equal
    scores (duplicate passages) either of them is a right answer, whichever order a search breaks ties in.
    """
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    exact_scores, expected = exact_topk_batch(vectors, ids, queries, k, with_scores=True)
    _, found = index.search(queries, k)
    ids = np.asarray(ids, dtype=np.int64)
    order = pk_order(ids)
    hits = []
    for query, scores, wanted, got in zip(queries, exact_scores, expected, found):
        valid = wanted >= 0
        if not valid.any():
            continue
        rows = rows_of_pks(ids, order, np.unique(got[got >= 0]))
        rows = np.sort(rows[rows >= 0])
        found_scores = np.asarray(vectors[rows] if len(rows) else np.empty((0, len(query))), np.float32) @ query
        hits.append(min(int((found_scores >= scores[valid].min() - tie).sum()), int(valid.sum())) / int(valid.sum()))
    return float(np.mean(hits)) if hits else 1.0


def approx_recall_at_10(index, vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray) -> float:
    """recall@10 of ``index`` (a DenseIndex, or any faiss index keyed by ``ids``) against exact search."""
    return recall_at_k(index, vectors, ids, queries, 10)
