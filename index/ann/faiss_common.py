"""What the faiss backends share: reading and writing index files, adding rows in blocks, training
samples, and the thread / BLAS settings a search runs under."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from index.ann.base import AnnBackend
from index.ann.spec import ADD_BLOCK, BLAS_MIN_QUERIES, FACTORY_CODES, TRAIN_PER_LIST, AnnSpec


class FaissBackend(AnnBackend):
    """A backend whose ``index`` is a faiss index (IDMap2 / IDMap / IVF keyed by pk)."""

    def search_params(self, depth: int):
        """faiss SearchParameters for one search of ``depth`` candidates (None: the index's own)."""
        return None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        params = self.search_params(k)
        with blas_for_batches(queries.shape[1]), faiss_threads(1 if len(queries) == 1 else None):
            if params is None:
                return self.index.search(queries, k)
            return self.index.search(queries, k, params=params)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))
        with open(path, "rb+") as handle:
            os.fsync(handle.fileno())

    @classmethod
    def load(cls, spec: AnnSpec, path: Path) -> AnnBackend:
        import faiss

        return cls(faiss.read_index(str(path)), spec)


def new_faiss(description: str, dim: int):
    """faiss.index_factory(dim, ``description``) over inner products (= cosine for unit vectors)."""
    import faiss

    return faiss.index_factory(dim, description, faiss.METRIC_INNER_PRODUCT)


def codes(spec: AnnSpec) -> str:
    return FACTORY_CODES[spec.vectors]


def train_and_add(index, spec: AnnSpec, vectors: np.ndarray, ids: np.ndarray):
    """Train ``index`` on a sample if it needs it (IVF, SQ8 codes), then add every row; returns it."""
    if not index.is_trained:
        index.train(training_sample(vectors, spec))
    add_rows(index, vectors, ids)
    return index


def training_sample(vectors: np.ndarray, spec: AnnSpec) -> np.ndarray:
    size = TRAIN_PER_LIST * spec.params.get("nlist", 1024)
    if len(vectors) <= size:
        return np.ascontiguousarray(vectors, dtype=np.float32)
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), size, replace=False))
    return np.ascontiguousarray(vectors[rows], dtype=np.float32)


def add_rows(index, vectors: np.ndarray, ids: np.ndarray) -> None:
    for start in range(0, len(ids), ADD_BLOCK):
        block = np.ascontiguousarray(vectors[start:start + ADD_BLOCK], dtype=np.float32)
        index.add_with_ids(block, np.ascontiguousarray(ids[start:start + ADD_BLOCK], dtype=np.int64))


@contextmanager
def faiss_threads(count: int | None):
    """Run faiss with ``count`` OpenMP threads (None: as configured). A single query runs on one: waking
    a thread team costs a scheduler slice whenever another process holds the other core (bench/ann.py:
    exact flat at 1M, one query, 241 ms on one thread vs 664 ms on two on this busy 2-core machine)."""
    if count is None:
        yield
        return
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


@contextmanager
def blas_for_batches(dim: int, min_queries: int = BLAS_MIN_QUERIES):
    """Let faiss use BLAS (matrix products) for batches of ``min_queries`` ``dim``-d queries or more."""
    import faiss

    before = faiss.cvar.distance_compute_blas_threshold
    faiss.cvar.distance_compute_blas_threshold = min_queries * dim
    try:
        yield
    finally:
        faiss.cvar.distance_compute_blas_threshold = before
