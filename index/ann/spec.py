"""The FAISS index of a generation: which kind, its parameters, incremental updates and searching it.

Kinds (``AnnSpec.type``), chosen by ``choose_spec`` ("auto": exact flat up to FLAT_MAX vectors, IVF above):
  flat  exact scan; rebuilt from vectors.npy every generation (a copy, cheap).
  ivf   inverted lists over k-means centroids. A new generation copies the previous index, removes the
        pks that vanished or changed (remove_ids) and adds the new ones against the kept centroids; it is
        retrained from scratch only when the count left x4 of what it was trained on, or the vectors added
        since training fit the centroids much worse than the training data did (drift).
  hnsw  a graph, which cannot delete: removed rows become tombstones (their pk in the IndexIDMap set to
        -1, skipped by an IDSelector while searching), new rows are added to the copied graph, and the
        whole graph is rebuilt once tombstones pass TOMBSTONE_MAX of it.
Codes (``AnnSpec.vectors``): fp32, or compact fp16 / sq8 (8-bit per dimension); a compact index returns
candidates that ``DenseIndex`` re-scores exactly from the float32 vectors.npy (memory-mapped).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import SemsearchError

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")
VECTOR_CODES = ("auto", "fp32", "fp16", "sq8")
FACTORY_CODES = {"fp32": "Flat", "fp16": "SQfp16", "sq8": "SQ8"}
FLAT_MAX = 50_000  # auto: exact search up to this many vectors (a one-query scan costs ~0.25 ms per 1,000)
TOMBSTONE_MAX = 0.2  # hnsw: rebuild once this share of the graph is deleted rows
RETRAIN_GROWTH = 4  # ivf: retrain when the count is x4 above or below what the centroids were trained on
DRIFT_MARGIN = 0.05  # ivf: retrain when added vectors fit their centroid this much worse (mean cosine)
DRIFT_MIN_SHARE = 0.05  # ... once they are at least this share of the index
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 40, 128
RESCORE_FACTOR, RESCORE_MIN = 4, 64  # compact codes: re-score max(k * factor, min) candidates
# faiss 1.15 scans exhaustively with SIMD loops while queries * dim < distance_compute_blas_threshold
# (128000: 333 queries of 384-d, so a 100-query batch takes the slow path); batches of at least
# BLAS_MIN_QUERIES go to BLAS matrix products instead, single queries stay on the SIMD loops.
BLAS_MIN_QUERIES = 16
TRAIN_PER_LIST, TRAIN_ITERATIONS = 64, 10
IVF_MIN_SCANNED = 30_000  # ivf: probe lists holding about this many vectors at least
ADD_BLOCK = 65536


class UnknownIndexOption(SemsearchError):
    def __init__(self, option: str, value: str, choices: tuple[str, ...]) -> None:
        super().__init__(f"unknown {option} '{value}'; choose one of {', '.join(choices)}")


class NoStoredVector(RuntimeError):
    """reconstruct() of a pk without a vector (a RuntimeError, as faiss raises)."""


@dataclass(frozen=True)
class AnnSpec:
    type: str = "flat"  # flat | hnsw | ivf
    vectors: str = "fp32"  # fp32 | fp16 | sq8
    params: dict[str, Any] = field(default_factory=dict)
    requested: dict[str, str] = field(default_factory=dict)  # named --index-type/--vectors: later runs keep them

    @property
    def exact(self) -> bool:
        return self.type == "flat" and self.vectors == "fp32"

    @property
    def compact(self) -> bool:
        return self.vectors != "fp32"

    @property
    def description(self) -> str:
        codes = FACTORY_CODES[self.vectors]
        if self.type == "ivf":
            return f"IVF{self.params['nlist']},{codes}"
        if self.type == "hnsw":
            return f"IDMap,HNSW{self.params['m']},{codes}"
        return f"IDMap2,{codes}"

    def to_manifest(self) -> dict[str, Any]:
        return {"type": self.type, "vectors": self.vectors, "exact": self.exact, "description": self.description,
                "params": dict(self.params), "requested": dict(self.requested)}

    @classmethod
    def from_manifest(cls, raw: dict[str, Any] | None) -> AnnSpec:
        """The manifest's ``faiss`` dict; anything older than this module ("IDMap2,Flat") is exact flat."""
        raw = raw or {}
        if raw.get("type") not in ("flat", "hnsw", "ivf"):
            return cls()
        return cls(raw["type"], raw.get("vectors", "fp32"), dict(raw.get("params", {})), dict(raw.get("requested", {})))


def check_index_options(index_type: str, vectors: str) -> None:
    check_option("--index-type", index_type, INDEX_TYPES)
    check_option("--vectors", vectors, VECTOR_CODES)


def choose_spec(n: int, index_type: str = "auto", vectors: str = "auto", previous: AnnSpec | None = None) -> AnnSpec:
    """The spec for ``n`` vectors: the options when named, else as named for the previous generation, else
    by size (exact flat up to FLAT_MAX, then IVF; fp32 for flat, sq8 for approximate kinds)."""
    check_index_options(index_type, vectors)
    before = previous.requested if previous is not None else {}
    index_type = before.get("index_type", "auto") if index_type == "auto" else index_type
    vectors = before.get("vectors", "auto") if vectors == "auto" else vectors
    requested = {key: value for key, value in (("index_type", index_type), ("vectors", vectors)) if value != "auto"}
    if index_type == "auto":
        index_type = "flat" if n <= FLAT_MAX else "ivf"
    if vectors == "auto":
        vectors = "fp32" if index_type == "flat" else "sq8"
    return AnnSpec(index_type, vectors, default_params(index_type, n), requested)


def check_option(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UnknownIndexOption(option, value, choices)


def default_params(index_type: str, n: int) -> dict[str, Any]:
    if index_type == "hnsw":
        return {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": HNSW_EF_SEARCH, "tombstones": 0}
    if index_type == "ivf":
        nlist = ivf_lists(n)
        return {"nlist": nlist, "nprobe": ivf_probes(nlist, n), "trained_on": n}
    return {}


def ivf_lists(n: int) -> int:
    """A power of two near 2 sqrt(n) (2048 at 1M), with at least TRAIN_PER_LIST vectors per list."""
    target = max(1, min(int(2 * np.sqrt(max(n, 1))), n // TRAIN_PER_LIST))
    return 1 << max(0, int(round(np.log2(target))))


def ivf_probes(nlist: int, n: int) -> int:
    """Lists scanned per query: a twentieth of them, and enough for about IVF_MIN_SCANNED vectors (recall
    needs candidates: 1M -> 102 of 2048 lists, 100k -> 154 of 512; recall@10 >= 0.95 in bench/ann.py)."""
    enough = int(np.ceil(nlist * IVF_MIN_SCANNED / max(n, 1)))
    return max(1, min(nlist, max(nlist // 20, enough)))


def new_index(spec: AnnSpec, dim: int):
    import faiss

    codes = FACTORY_CODES[spec.vectors]
    if spec.type == "ivf":
        index = faiss.index_factory(dim, f"IVF{spec.params['nlist']},{codes}", faiss.METRIC_INNER_PRODUCT)
        index.by_residual = False  # codes of the vectors themselves: scans ~1.5x faster, same recall after re-scoring
        index.cp.niter = TRAIN_ITERATIONS
        index.cp.max_points_per_centroid = TRAIN_PER_LIST
        return index
    if spec.type == "hnsw":
        index = faiss.index_factory(dim, f"IDMap,HNSW{spec.params['m']},{codes}", faiss.METRIC_INNER_PRODUCT)
        faiss.downcast_index(index.index).hnsw.efConstruction = spec.params["ef_construction"]
        return index
    return faiss.index_factory(dim, f"IDMap2,{codes}", faiss.METRIC_INNER_PRODUCT)


def build_ann(spec: AnnSpec, vectors: np.ndarray, ids: np.ndarray):
    """A fresh index of ``spec`` holding ``vectors`` keyed by ``ids`` (trained on a sample if it needs it)."""
    index = new_index(spec, vectors.shape[1])
    if not index.is_trained:
        index.train(training_sample(vectors, spec))
    add_rows(index, vectors, ids)
    if spec.type == "ivf":
        spec = replace(spec, params={**spec.params, "trained_on": len(ids), "fit": centroid_fit(index, vectors),
                                     "added_since_training": 0, "added_fit_sum": 0.0})
    return index, spec


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


def centroid_fit(index, vectors: np.ndarray, sample: int = 20_000) -> float:
    """Mean cosine between (a sample of) ``vectors`` and their nearest IVF centroid."""
    if not len(vectors):
        return 0.0
    rows = np.random.default_rng(1).choice(len(vectors), min(sample, len(vectors)), replace=False)
    with blas_for_batches(vectors.shape[1]):
        scores, _ = index.quantizer.search(np.ascontiguousarray(vectors[np.sort(rows)], dtype=np.float32), 1)
    return float(scores.mean())


@dataclass(frozen=True)
class PreviousAnn:
    """The previous generation's index, and the vectors and ids it was built from."""

    spec: AnnSpec
    path: Path
    vectors: np.ndarray
    ids: np.ndarray


def update_ann(previous: PreviousAnn | None, vectors: np.ndarray, ids: np.ndarray,
               index_type: str = "auto", codes: str = "auto"):
    """(index, spec) for the new generation: the previous index updated in place when it can be, else new."""
    spec = choose_spec(len(ids), index_type, codes, previous.spec if previous else None)
    if previous is None or previous.spec.type != spec.type or previous.spec.vectors != spec.vectors \
            or spec.type == "flat" or not previous.path.is_file():
        return build_ann(spec, vectors, ids)
    removed, added = changed_rows(previous.ids, previous.vectors, ids, vectors)
    spec = replace(spec, params=previous.spec.params)
    if spec.type == "ivf":
        return update_ivf(previous, spec, vectors, ids, removed, added)
    return update_hnsw(previous, spec, vectors, ids, removed, added)


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


def update_ivf(previous: PreviousAnn, spec: AnnSpec, vectors, ids, removed, added):
    import faiss

    params, n = spec.params, len(ids)
    if not params["trained_on"] / RETRAIN_GROWTH <= n <= params["trained_on"] * RETRAIN_GROWTH:
        return build_ann(replace(spec, params=default_params("ivf", n)), vectors, ids)
    index = faiss.read_index(str(previous.path))
    count = params["added_since_training"] + len(added)
    fit_sum = params["added_fit_sum"] + centroid_fit(index, vectors[added]) * len(added)
    if count >= DRIFT_MIN_SHARE * n and fit_sum / count < params["fit"] - DRIFT_MARGIN:
        return build_ann(replace(spec, params=default_params("ivf", n)), vectors, ids)
    if len(removed):
        index.remove_ids(faiss.IDSelectorBatch(removed))
    add_rows(index, vectors[added], ids[added])
    return index, replace(spec, params={**params, "added_since_training": count, "added_fit_sum": fit_sum})


def update_hnsw(previous: PreviousAnn, spec: AnnSpec, vectors, ids, removed, added):
    import faiss

    index = faiss.read_index(str(previous.path))
    id_map = faiss.vector_to_array(index.id_map)
    id_map[np.isin(id_map, removed)] = -1
    tombstones = int((id_map < 0).sum())
    if tombstones > TOMBSTONE_MAX * (len(id_map) + len(added)):
        return build_ann(replace(spec, params=default_params("hnsw", len(ids))), vectors, ids)
    faiss.copy_array_to_vector(id_map, index.id_map)
    add_rows(index, vectors[added], ids[added])
    return index, replace(spec, params={**spec.params, "tombstones": tombstones})


def live_count(index, spec: AnnSpec) -> int:
    """Vectors the index answers with (an HNSW graph also holds tombstones)."""
    if spec.type == "hnsw":
        import faiss

        return int((faiss.vector_to_array(index.id_map) >= 0).sum())
    return int(index.ntotal)


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


def approx_recall_at_10(index, vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray) -> float:
    """recall@10 of ``index`` (a DenseIndex, or any faiss index keyed by ``ids``) against exact search."""
    from index.ann.search import recall_at_k

    return recall_at_k(index, vectors, ids, queries, 10)
