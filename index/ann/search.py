"""Searching a generation's FAISS index (see index/ann.py): search parameters, tombstone filtering,
exact re-scoring of compact candidates from the float32 vectors, and recall against exact search."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np

from index.ann.spec import (
    RESCORE_FACTOR, RESCORE_MIN, AnnSpec, NoStoredVector, blas_for_batches, faiss_threads,
    live_count,
)

from index.ann.vectors import NumpyFlat

VectorsLoader = Callable[[], tuple[np.ndarray, np.ndarray]]  # () -> (vectors: array or NpyRows, pks)


class DenseIndex:
    """A generation's index as the searcher sees it: ``search(queries, k) -> (scores, pks)`` like a faiss
    index (pk -1 pads), ``ntotal`` (live vectors), and ``reconstruct(pk)`` from the stored float32 vectors
    (an array, or index.ann.vectors.NpyRows reading rows of vectors.npy on demand)."""

    def __init__(self, index, spec: AnnSpec, load_vectors: VectorsLoader, ntotal: int | None = None) -> None:
        self.raw = index
        self.spec = spec
        self.ntotal = live_count(index, spec) if ntotal is None else ntotal
        self._load = load_vectors
        self._params_keep: list = []  # SWIG selectors must outlive the search parameters that point to them

    @cached_property
    def stored(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(vectors, pks, order): order sorts pks (None when they are sorted already, as the builder writes)."""
        vectors, pks = self._load()
        return vectors, pks, pk_order(pks)

    def rows_of(self, pks: np.ndarray) -> np.ndarray:
        """Row in vectors.npy of each pk, -1 where there is none."""
        _, stored, order = self.stored
        return rows_of_pks(stored, order, pks)

    def close(self) -> None:
        """Close the stored vectors' file if they were opened (NpyRows)."""
        if "stored" in self.__dict__ and hasattr(self.stored[0], "close"):
            self.stored[0].close()

    def reconstruct(self, pk: int) -> np.ndarray:
        row = int(self.rows_of(np.array([pk], dtype=np.int64))[0])
        if row < 0:
            raise NoStoredVector(f"no stored vector for pk {pk}")
        return np.array(self.stored[0][row], dtype=np.float32)

    def candidates(self, k: int) -> int:
        depth = max(k * RESCORE_FACTOR, RESCORE_MIN) if self.spec.compact else k
        return max(1, min(depth, int(self.raw.ntotal)))

    def search_params(self, depth: int):
        import faiss

        p = self.spec.params
        if self.spec.type == "ivf":
            return faiss.SearchParametersIVF(nprobe=int(p["nprobe"]))
        if self.spec.type == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(int(p["ef_search"]), depth))
            if p.get("tombstones"):
                live = faiss.IDSelectorRange(0, 1 << 62)  # tombstones carry pk -1
                self._params_keep = [live]
                params.sel = live
            return params
        return None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        depth = self.candidates(k)
        if isinstance(self.raw, NumpyFlat):
            return pad(*self.raw.search(queries, depth), k)
        params = self.search_params(depth)
        with blas_for_batches(queries.shape[1]), faiss_threads(1 if len(queries) == 1 else None):
            if params is None:
                scores, pks = self.raw.search(queries, depth)
            else:
                scores, pks = self.raw.search(queries, depth, params=params)
        if self.spec.compact:
            scores, pks = self.rescore(queries, pks)
        return pad(scores[:, :k], pks[:, :k], k)

    def rescore(self, queries: np.ndarray, pks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact float32 scores for the candidates, best first (ties by pk, as exact search orders them)."""
        vectors = self.stored[0]
        rows = self.rows_of(pks.ravel()).reshape(pks.shape)
        valid = rows >= 0
        gathered = np.zeros(pks.shape + (vectors.shape[1],), dtype=np.float32)
        wanted = np.unique(rows[valid])  # each row read once, in file order
        gathered[valid] = vectors[wanted][np.searchsorted(wanted, rows[valid])]
        scores = np.einsum("qcd,qd->qc", gathered, queries)
        scores[~valid] = -np.inf
        pks = np.where(valid, pks, -1)
        order = np.lexsort((pks, -scores), axis=-1)
        return np.take_along_axis(scores, order, 1), np.take_along_axis(pks, order, 1)


def pk_order(pks: np.ndarray) -> np.ndarray | None:
    """The order that sorts ``pks``; None when they are sorted already (as the builder writes them)."""
    return None if np.all(pks[1:] > pks[:-1]) else np.argsort(pks, kind="stable")


def rows_of_pks(stored: np.ndarray, order: np.ndarray | None, pks: np.ndarray) -> np.ndarray:
    """Row of each pk in ``stored`` (sorted by ``order``, or already sorted when it is None), -1 if absent."""
    pks = np.asarray(pks, dtype=np.int64)
    sorted_pks = stored if order is None else stored[order]
    at = np.searchsorted(sorted_pks, pks).clip(0, max(len(sorted_pks) - 1, 0))
    found = (sorted_pks[at] == pks) if len(sorted_pks) else np.zeros(len(pks), dtype=bool)
    rows = at if order is None else order[at]
    return np.where(found, rows, -1)


def pad(scores: np.ndarray, pks: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if scores.shape[1] >= k:
        return scores, pks
    extra = k - scores.shape[1]
    return (np.pad(scores, ((0, 0), (0, extra)), constant_values=-np.inf),
            np.pad(pks, ((0, 0), (0, extra)), constant_values=-1))


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
