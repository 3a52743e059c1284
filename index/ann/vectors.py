"""Vectors on disk (.npy): written, memory-mapped or read row by row; and the exact top-k oracle of tests."""

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


def exact_topk(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Reference numpy top-k (used by tests as an oracle for FAISS)."""
    scores = vectors @ query
    order = np.lexsort((ids, -scores))[:k]
    return [(int(ids[i]), float(scores[i])) for i in order]
