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


class NpyRows:
    """Rows of a 2-D float32 .npy file, read on demand with pread (``rows[i]`` or ``rows[array]``).

    Nothing is mapped into the process: re-scoring a few dozen candidate rows per query leaves resident
    memory alone, where a memory map grows by whole folios around every touched row (on this kernel a
    few hundred queries map in the entire 1.5 GB file of a million vectors)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = open(self.path, "rb", buffering=0)
        version = np.lib.format.read_magic(self._file)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(self._file)
        if len(shape) != 2 or fortran or dtype != np.float32:
            self._file.close()
            raise ValueError(f"{self.path.name}: expected a 2-D C-order float32 array, got {dtype} {shape}")
        self.shape = shape
        self.dtype = dtype
        self._offset = self._file.tell()
        self._row_bytes = shape[1] * 4

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows) -> np.ndarray:
        single = np.ndim(rows) == 0
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        if len(rows) and (rows.min() < 0 or rows.max() >= self.shape[0]):
            raise IndexError(f"row out of range for {self.path.name} ({self.shape[0]} rows)")
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        view = memoryview(out).cast("B")
        size = self._row_bytes
        for i, row in enumerate(rows.tolist()):
            if os.preadv(self._file.fileno(), [view[i * size:(i + 1) * size]], self._offset + row * size) != size:
                raise ValueError(f"{self.path.name} is shorter than its header says")
        return out[0] if single else out

    def close(self) -> None:
        self._file.close()


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


class NumpyFlat:
    """Exact inner-product search over the (memory-mapped) vectors.npy with numpy, answering as
    faiss.IndexIDMap2(IndexFlatIP) does -- (scores, pks) best first, pk -1 pads -- with ties in row
    order (= pk order, as the builder writes rows). The reader uses it for exact flat indexes, so a
    question never imports faiss (~60-90 ms of a cold start) and the vectors stay in the page cache,
    shared between processes, instead of a private copy. Rows are scored in blocks (bounded memory)."""

    BLOCK = 131_072

    def __init__(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self.vectors = vectors
        self.ids = np.asarray(ids, dtype=np.int64)
        self.ntotal = len(self.ids)

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
