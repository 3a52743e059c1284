"""IVF: inverted lists over k-means centroids. A new generation copies the previous index, removes the
pks that vanished or changed (remove_ids) and adds the new ones against the kept centroids; it is
retrained from scratch only when the count left x4 of what it was trained on, or the vectors added
since training fit the centroids much worse than the training data did (drift)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from index.ann.base import PreviousAnn
from index.ann.faiss_common import FaissBackend, add_rows, blas_for_batches, codes, new_faiss, train_and_add
from index.ann.spec import (
    DRIFT_MARGIN, DRIFT_MIN_SHARE, RETRAIN_GROWTH, TRAIN_ITERATIONS, TRAIN_PER_LIST, AnnSpec, default_params,
)


class FaissIvf(FaissBackend):
    def search_params(self, depth: int):
        import faiss

        return faiss.SearchParametersIVF(nprobe=int(self.spec.params["nprobe"]))

    @classmethod
    def build(cls, spec: AnnSpec, vectors: np.ndarray, ids: np.ndarray) -> FaissIvf:
        index = new_faiss(f"IVF{spec.params['nlist']},{codes(spec)}", vectors.shape[1])
        index.by_residual = False  # codes of the vectors themselves: scans ~1.5x faster, same recall after re-scoring
        index.cp.niter = TRAIN_ITERATIONS
        index.cp.max_points_per_centroid = TRAIN_PER_LIST
        train_and_add(index, spec, vectors, ids)
        params = {**spec.params, "trained_on": len(ids), "fit": centroid_fit(index, vectors),
                  "added_since_training": 0, "added_fit_sum": 0.0}
        return cls(index, replace(spec, params=params))

    @classmethod
    def update(cls, previous: PreviousAnn, spec: AnnSpec, vectors: np.ndarray, ids: np.ndarray,
               removed: np.ndarray, added: np.ndarray) -> FaissIvf:
        import faiss

        params, n = spec.params, len(ids)
        if not params["trained_on"] / RETRAIN_GROWTH <= n <= params["trained_on"] * RETRAIN_GROWTH:
            return cls.build(replace(spec, params=default_params("ivf", n)), vectors, ids)
        index = faiss.read_index(str(previous.path))
        count = params["added_since_training"] + len(added)
        fit_sum = params["added_fit_sum"] + centroid_fit(index, vectors[added]) * len(added)
        if count >= DRIFT_MIN_SHARE * n and fit_sum / count < params["fit"] - DRIFT_MARGIN:
            return cls.build(replace(spec, params=default_params("ivf", n)), vectors, ids)
        if len(removed):
            index.remove_ids(faiss.IDSelectorBatch(removed))
        add_rows(index, vectors[added], ids[added])
        return cls(index, replace(spec, params={**params, "added_since_training": count, "added_fit_sum": fit_sum}))


def centroid_fit(index, vectors: np.ndarray, sample: int = 20_000) -> float:
    """Mean cosine between (a sample of) ``vectors`` and their nearest IVF centroid."""
    if not len(vectors):
        return 0.0
    rows = np.random.default_rng(1).choice(len(vectors), min(sample, len(vectors)), replace=False)
    with blas_for_batches(vectors.shape[1]):
        scores, _ = index.quantizer.search(np.ascontiguousarray(vectors[np.sort(rows)], dtype=np.float32), 1)
    return float(scores.mean())
