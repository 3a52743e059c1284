"""HNSW graph. A graph cannot delete: a removed row becomes a tombstone (its pk in the IndexIDMap set to
-1, skipped by an IDSelector while searching), new rows join the copied graph, and the whole graph is
rebuilt once tombstones pass TOMBSTONE_MAX of it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from index.ann.base import PreviousAnn
from index.ann.faiss_common import FaissBackend, add_rows, codes, new_faiss, train_and_add
from index.ann.spec import TOMBSTONE_MAX, AnnSpec, default_params


class FaissHnsw(FaissBackend):
    def __init__(self, index, spec: AnnSpec) -> None:
        super().__init__(index, spec)
        self._keep: list = []  # SWIG selectors must outlive the search parameters that point to them

    def count(self) -> int:
        import faiss

        return int((faiss.vector_to_array(self.index.id_map) >= 0).sum())

    def search_params(self, depth: int):
        import faiss

        params = faiss.SearchParametersHNSW(efSearch=max(int(self.spec.params["ef_search"]), depth))
        if self.spec.params.get("tombstones"):
            live = faiss.IDSelectorRange(0, 1 << 62)  # tombstones carry pk -1
            self._keep = [live]
            params.sel = live
        return params

    @classmethod
    def build(cls, spec: AnnSpec, vectors: np.ndarray, ids: np.ndarray) -> FaissHnsw:
        import faiss

        index = new_faiss(f"IDMap,HNSW{spec.params['m']},{codes(spec)}", vectors.shape[1])
        faiss.downcast_index(index.index).hnsw.efConstruction = spec.params["ef_construction"]
        return cls(train_and_add(index, spec, vectors, ids), spec)

    @classmethod
    def update(cls, previous: PreviousAnn, spec: AnnSpec, vectors: np.ndarray, ids: np.ndarray,
               removed: np.ndarray, added: np.ndarray) -> FaissHnsw:
        import faiss

        index = faiss.read_index(str(previous.path))
        id_map = faiss.vector_to_array(index.id_map)
        id_map[np.isin(id_map, removed)] = -1
        tombstones = int((id_map < 0).sum())
        if tombstones > TOMBSTONE_MAX * (len(id_map) + len(added)):
            return cls.build(replace(spec, params=default_params("hnsw", len(ids))), vectors, ids)
        faiss.copy_array_to_vector(id_map, index.id_map)
        add_rows(index, vectors[added], ids[added])
        return cls(index, replace(spec, params={**spec.params, "tombstones": tombstones}))
