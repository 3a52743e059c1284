"""Flat faiss index: every vector scanned (fp32: exact; fp16 / sq8: compact codes, re-scored exactly by
DenseIndex). Rebuilt from vectors.npy every generation, a copy that costs little. The reader answers an
exact flat index with numpy (index/ann/numpy_flat.py) and only checks this file."""

from __future__ import annotations

import numpy as np

from index.ann.faiss_common import FaissBackend, codes, new_faiss, train_and_add
from index.ann.spec import AnnSpec


class FaissFlat(FaissBackend):
    @classmethod
    def build(cls, spec: AnnSpec, vectors: np.ndarray, ids: np.ndarray) -> FaissFlat:
        index = new_faiss(f"IDMap2,{codes(spec)}", vectors.shape[1])
        return cls(train_and_add(index, spec, vectors, ids), spec)
