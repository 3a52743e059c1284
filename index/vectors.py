"""Vectors on disk (.npy) and the FAISS index built from them. Takes and returns numpy arrays."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def save_array(path: Path, array: np.ndarray) -> None:
    """np.save, flushed to disk (the caller makes the whole generation visible atomically)."""
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def load_array(path: Path, *, mmap: bool = False) -> np.ndarray:
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def build_faiss(vectors: np.ndarray, ids: np.ndarray):
    """Exact inner-product search keyed by passage pk (vectors are L2-normalised: IP = cosine)."""
    import faiss

    dim = vectors.shape[1]
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))
    return index


def write_faiss(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def read_faiss(path: Path):
    import faiss

    return faiss.read_index(str(path))


def search_faiss(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, pks) per query row; missing slots (k > ntotal) are dropped by the caller (pk -1)."""
    k = max(1, min(k, index.ntotal)) if index.ntotal else 1
    scores, pks = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return scores, pks


def exact_topk(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Reference numpy top-k (used by tests as an oracle for FAISS)."""
    scores = vectors @ query
    order = np.lexsort((ids, -scores))[:k]
    return [(int(ids[i]), float(scores[i])) for i in order]
