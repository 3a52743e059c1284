"""Exact flat search in numpy: the backend the reader answers exact flat indexes with (no faiss import)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from index.ann.base import AnnBackend
from index.ann.spec import AnnSpec


class NumpyFlat(AnnBackend):
    """Exact inner-product search over the (memory-mapped) vectors.npy with numpy, answering as
    faiss.IndexIDMap2(IndexFlatIP) does -- (scores, pks) best first, pk -1 pads -- with ties in row
    order (= pk order, as the builder writes rows). The reader uses it for exact flat indexes, so a
    question never imports faiss (~60-90 ms of a cold start) and the vectors stay in the page cache,
    shared between processes, instead of a private copy. Rows are scored in blocks (bounded memory).

    Its data is the generation's vectors.npy, which the builder writes anyway; the faiss.index beside it
    (IDMap2,Flat, for any faiss tool) is written by FaissFlat, so ``save`` and ``load`` have nothing to do."""

    BLOCK = 131_072

    def __init__(self, vectors: np.ndarray, ids: np.ndarray, spec: AnnSpec | None = None) -> None:
        super().__init__(None, spec or AnnSpec())
        self.vectors = vectors
        self.ids = np.asarray(ids, dtype=np.int64)

    @property
    def ntotal(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, spec: AnnSpec, vectors: np.ndarray, ids: np.ndarray) -> NumpyFlat:
        return cls(vectors, ids, spec)

    def save(self, path: Path) -> None:
        raise NotImplementedError("an exact flat index is saved as faiss.index by FaissFlat; numpy reads vectors.npy")

    @classmethod
    def load(cls, spec: AnnSpec, path: Path) -> NumpyFlat:
        raise NotImplementedError("NumpyFlat answers from the generation's vectors: NumpyFlat(vectors, ids)")

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, int(k))
        scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
        rows = np.empty((len(queries), 0), dtype=np.int64)
        for start in range(0, self.ntotal, self.BLOCK):
            block = np.asarray(self.vectors[start : start + self.BLOCK], dtype=np.float32)
            block_rows = np.broadcast_to(np.arange(start, start + len(block), dtype=np.int64), (len(queries), len(block)))
            scores, rows = best_k(np.hstack([scores, queries @ block.T]), np.hstack([rows, block_rows]), k)
        if scores.shape[1] < k:
            extra = ((0, 0), (0, k - scores.shape[1]))
            scores, rows = np.pad(scores, extra, constant_values=-np.inf), np.pad(rows, extra, constant_values=-1)
        return scores, np.where(rows >= 0, self.ids[rows.clip(0)], -1)


def best_k(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the k best (score desc, then row asc) of the columns; ties at the k-th score are
    settled by row, never by where argpartition happened to put them."""
    if scores.shape[1] > k:
        kth = np.partition(scores, scores.shape[1] - k, axis=1)[:, scores.shape[1] - k]
        keep = [np.flatnonzero(s >= t) for s, t in zip(scores, kth)]
        lengths = np.array([len(c) for c in keep])
        picked = np.zeros((len(keep), lengths.max()), dtype=np.int64)
        valid = np.arange(picked.shape[1]) < lengths[:, None]  # every query keeps >= k columns
        picked[valid] = np.concatenate(keep)
        scores = np.where(valid, np.take_along_axis(scores, picked, 1), -np.inf)
        rows = np.where(valid, np.take_along_axis(rows, picked, 1), np.iinfo(np.int64).max)
    order = np.lexsort((rows, -scores), axis=-1)[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1)
