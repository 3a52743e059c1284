"""What dense index a generation has (``AnnSpec``, as the manifest records it) and how it is chosen.

Each kind is one backend module (index/ann/factory.py picks it; index/ann/base.py is their interface).
Kinds (``AnnSpec.type``), chosen by ``choose_spec`` ("auto": exact flat up to FLAT_MAX vectors, IVF above):
  flat  exact scan; rebuilt from vectors.npy every generation (a copy, cheap). faiss_flat.py; an exact
        one is answered by numpy_flat.py, which reads vectors.npy and never imports faiss.
  ivf   inverted lists over k-means centroids. A new generation copies the previous index, removes the
        pks that vanished or changed (remove_ids) and adds the new ones against the kept centroids; it is
        retrained from scratch only when the count left x4 of what it was trained on, or the vectors added
        since training fit the centroids much worse than the training data did (drift). faiss_ivf.py.
  hnsw  a graph, which cannot delete: removed rows become tombstones (their pk in the IndexIDMap set to
        -1, skipped by an IDSelector while searching), new rows are added to the copied graph, and the
        whole graph is rebuilt once tombstones pass TOMBSTONE_MAX of it. faiss_hnsw.py.
Codes (``AnnSpec.vectors``): fp32, or compact fp16 / sq8 (8-bit per dimension); a compact index returns
candidates that ``DenseIndex`` re-scores exactly from the float32 vectors.npy (memory-mapped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embed.errors import SemsearchError

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
