"""A generation's dense index as the searcher sees it: any backend (index/ann/base.py), with exact
re-scoring of compact candidates from the float32 vectors and reconstruct() of a stored vector."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np

from index.ann.base import AnnBackend
from index.ann.spec import RESCORE_FACTOR, RESCORE_MIN, NoStoredVector

VectorsLoader = Callable[[], tuple[np.ndarray, np.ndarray]]  # () -> (vectors: array or NpyRows, pks)


class DenseIndex:
    """A generation's index as the searcher sees it: ``search(queries, k) -> (scores, pks)`` like a faiss
    index (pk -1 pads), ``ntotal`` (live vectors), and ``reconstruct(pk)`` from the stored float32 vectors
    (an array, or index.ann.vectors.NpyRows reading rows of vectors.npy on demand)."""

    def __init__(self, backend: AnnBackend, load_vectors: VectorsLoader, ntotal: int | None = None) -> None:
        self.backend = backend
        self.spec = backend.spec
        self.ntotal = backend.count() if ntotal is None else ntotal
        self._load = load_vectors

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
        return max(1, min(depth, self.backend.ntotal))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        scores, pks = self.backend.search(queries, self.candidates(k))
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
