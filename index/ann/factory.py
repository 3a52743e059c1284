"""The dense index a spec names: one backend per kind, chosen here from the manifest's spec (reading)
or from --index-type / --vectors and the previous generation (building)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from index.ann.base import AnnBackend, PreviousAnn
from index.ann.faiss_flat import FaissFlat
from index.ann.faiss_hnsw import FaissHnsw
from index.ann.faiss_ivf import FaissIvf
from index.ann.numpy_flat import NumpyFlat
from index.ann.spec import AnnSpec, choose_spec

BACKENDS: dict[str, type[AnnBackend]] = {"flat": FaissFlat, "hnsw": FaissHnsw, "ivf": FaissIvf}

__all__ = ["BACKENDS", "PreviousAnn", "backend_for", "build_ann", "load_ann", "update_ann"]


def backend_for(spec: AnnSpec) -> type[AnnBackend]:
    return BACKENDS[spec.type]


def build_ann(spec: AnnSpec, vectors: np.ndarray, ids: np.ndarray) -> tuple[AnnBackend, AnnSpec]:
    """A fresh index of ``spec`` holding ``vectors`` keyed by ``ids``, and its spec as built (IVF adds its fit)."""
    backend = backend_for(spec).build(spec, vectors, ids)
    return backend, backend.spec


def update_ann(previous: PreviousAnn | None, vectors: np.ndarray, ids: np.ndarray,
               index_type: str = "auto", codes: str = "auto") -> tuple[AnnBackend, AnnSpec]:
    """(index, spec) for the new generation: the previous index updated in place when it can be, else new."""
    spec = choose_spec(len(ids), index_type, codes, previous.spec if previous else None)
    if previous is None or previous.spec.type != spec.type or previous.spec.vectors != spec.vectors \
            or spec.type == "flat" or not previous.path.is_file():
        return build_ann(spec, vectors, ids)
    removed, added = changed_rows(previous.ids, previous.vectors, ids, vectors)
    backend = backend_for(spec).update(previous, replace(spec, params=previous.spec.params), vectors, ids,
                                       removed, added)
    return backend, backend.spec


def load_ann(spec: AnnSpec, path: Path, vectors: np.ndarray | None = None, ids: np.ndarray | None = None) -> AnnBackend:
    """The saved index of ``spec``; an exact flat one is answered by numpy over ``vectors`` when given."""
    if spec.exact and vectors is not None and ids is not None:
        return NumpyFlat(vectors, ids, spec)
    return backend_for(spec).load(spec, path)


def changed_rows(old_ids, old_vectors, ids, vectors, block: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """(pks to remove from the old index, rows of ``ids`` to add): gone or changed pks, new or changed rows."""
    _, old_at, new_at = np.intersect1d(old_ids, ids, assume_unique=True, return_indices=True)
    same = np.zeros(len(new_at), dtype=bool)
    for start in range(0, len(new_at), block):
        stop = start + block
        same[start:stop] = (old_vectors[old_at[start:stop]] == vectors[new_at[start:stop]]).all(axis=1)
    kept = np.zeros(len(ids), dtype=bool)
    kept[new_at[same]] = True
    removed = np.setdiff1d(old_ids, ids[kept], assume_unique=True)
    return removed.astype(np.int64), np.flatnonzero(~kept)
