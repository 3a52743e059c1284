"""Benchmark of the dense index kinds (index/ann/) on real MiniLM embeddings grown by noisy copies.

    python -m bench.ann                         # 10k / 100k / 1M, every kind (about half an hour here)
    python -m bench.ann --sizes 10000,100000 --kinds flat-fp32,ivf-sq8

Per size and kind it prints: build seconds, warm single-query p50/p99 (DenseIndex.search: the index plus
exact re-scoring of compact codes), recall@10 against exact float32 search on the same queries, and the
resident memory a fresh process gains by loading the index and answering queries (index file plus the
pages of the memory-mapped vectors.npy that re-scoring touched), also per million passages. Then the
nprobe / efSearch trade-off at the largest size, the exact-scan bandwidth bound and the BLAS-threshold
batch timing. All figures come from this one run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.ann_data import grow, real_embeddings
from index.ann.factory import build_ann, load_ann
from index.ann.faiss_common import blas_for_batches
from index.ann.numpy_flat import NumpyFlat
from index.ann.recall import exact_topk_batch
from index.ann.search import DenseIndex
from index.ann.spec import BLAS_MIN_QUERIES, AnnSpec, choose_spec
from index.ann.vectors import NpyRows

KINDS = ["flat-fp32", "flat-fp16", "flat-sq8", "hnsw-fp32", "hnsw-fp16", "hnsw-sq8", "ivf-fp32", "ivf-fp16", "ivf-sq8"]
LATENCY_QUERIES, LATENCY_SECONDS, WARMUP = 200, 15.0, 10
SWEEPS = {"ivf-sq8": [8, 16, 32, 64, 128], "hnsw-sq8": [32, 64, 96, 128, 256]}


def latencies(index: DenseIndex, queries: np.ndarray, k: int = 10) -> tuple[float, float]:
    """(p50, p99) milliseconds of single-query searches, after a warm-up; stops early past LATENCY_SECONDS."""
    for q in queries[:WARMUP]:
        index.search(q[None, :], k)
    times: list[float] = []
    started = time.perf_counter()
    for q in queries[:LATENCY_QUERIES]:
        t = time.perf_counter()
        index.search(q[None, :], k)
        times.append((time.perf_counter() - t) * 1000)
        if time.perf_counter() - started > LATENCY_SECONDS and len(times) >= 20:
            break
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def recall(index: DenseIndex, queries: np.ndarray, expected: np.ndarray, k: int = 10) -> float:
    _, found = index.search(queries, k)
    return float(np.mean([len(set(e) & set(f)) / k for e, f in zip(expected, found)]))


def vm_rss() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def loaded_rss(index_path: str, spec: dict, vectors_path: str, n: int, queries: np.ndarray) -> int:
    """In a fresh process: bytes of resident memory gained by loading the index and answering queries."""
    from index.ann.spec import AnnSpec as Spec

    before = vm_rss()
    spec = Spec.from_manifest(spec)
    if spec.exact:  # as the reader: numpy over the memory-mapped vectors.npy, the faiss file is not read
        vectors, ids = np.load(vectors_path, mmap_mode="r")[:n], np.arange(n, dtype=np.int64)
        index = DenseIndex(NumpyFlat(vectors, ids, spec), lambda: (vectors, ids), n)
    else:
        backend = load_ann(spec, Path(index_path))
        index = DenseIndex(backend, lambda: (NpyRows(vectors_path), np.arange(n, dtype=np.int64)))
    for q in queries:
        index.search(q[None, :], 10)
    return vm_rss() - before


def run_kind(kind: str, vectors, queries, expected, workdir: Path, vectors_path: Path, pool) -> tuple:
    index_type, codes = kind.split("-")
    n = len(vectors)
    ids = np.arange(n, dtype=np.int64)
    started = time.perf_counter()
    raw, spec = build_ann(choose_spec(n, index_type, codes), vectors, ids)
    build = time.perf_counter() - started
    if spec.exact:  # as the reader: numpy over the memory-mapped vectors (index/vectors.py NumpyFlat)
        mapped = np.load(vectors_path, mmap_mode="r")[:n]
        index = DenseIndex(NumpyFlat(mapped, ids, spec), lambda: (mapped, ids), n)
    else:
        index = DenseIndex(raw, lambda: (NpyRows(vectors_path), ids))  # as the reader: rows read on demand
    p50, p99 = latencies(index, queries)
    rec = recall(index, queries, expected)
    path = workdir / f"{kind}-{n}.index"
    raw.save(path)
    rss = pool.apply(loaded_rss, (str(path), spec.to_manifest(), str(vectors_path), n, queries[:LATENCY_QUERIES]))
    size = path.stat().st_size
    path.unlink()
    return raw, spec, (build, p50, p99, rec, size, rss)


def print_row(n: int, kind: str, spec: AnnSpec, build, p50, p99, rec, size, rss) -> None:
    per_million = rss * 1e6 / n / 2**20
    print(f"{n:>9,} {kind:<10} {spec.description:<20} {params_text(spec):<22} {build:8.1f} {p50:8.2f} {p99:8.2f}"
          f" {rec:7.3f} {size / 2**20:9.1f} {rss / 2**20:9.1f} {per_million:9.0f}", flush=True)


def params_text(spec: AnnSpec) -> str:
    p = spec.params
    if spec.type == "ivf":
        return f"nprobe={p['nprobe']}"
    if spec.type == "hnsw":
        return f"M={p['m']} efS={p['ef_search']}"
    return "numpy exact scan" if spec.exact else "scan+rescore"


HEADER = (f"{'passages':>9} {'kind':<10} {'faiss':<20} {'params':<22} {'build_s':>8} {'p50_ms':>8} {'p99_ms':>8}"
          f" {'rec@10':>7} {'file_MB':>9} {'rss_MB':>9} {'MB/1M':>9}")


def sweep(raw, spec: AnnSpec, vectors_path: Path, queries, expected, values: list[int]) -> None:
    """Recall and p50 against nprobe (ivf) or efSearch (hnsw) on one built index."""
    ids = np.arange(raw.ntotal, dtype=np.int64)
    key = "nprobe" if spec.type == "ivf" else "ef_search"
    kind = f"{spec.type}-{spec.vectors}"
    for value in values:
        tuned = AnnSpec(spec.type, spec.vectors, {**spec.params, key: value})
        index = DenseIndex(type(raw)(raw.index, tuned), lambda: (NpyRows(vectors_path), ids))
        p50, p99 = latencies(index, queries)
        print(f"  {kind:<9} {key}={value:<5} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  recall@10 {recall(index, queries, expected):.3f}",
              flush=True)


def bandwidth_bound(vectors: np.ndarray) -> None:
    """Exact search must read every float32 vector once per query: time a plain streaming read of them."""
    q = vectors[0].copy()
    reads = []
    for _ in range(5):
        t = time.perf_counter()
        vectors @ q
        reads.append(time.perf_counter() - t)
    gb = vectors.nbytes / 1e9
    best = min(reads)
    print(f"numpy matrix-vector over {len(vectors):,} fp32 vectors ({gb:.2f} GB): best {best * 1000:.0f} ms "
          f"= {gb / best:.1f} GB/s (the exact-scan bound for one query)", flush=True)


def flat_threads(raw, queries: np.ndarray, repeats: int = 10) -> None:
    """One query on the exact flat index with one and with two OpenMP threads (median of ``repeats``)."""
    import faiss

    before = faiss.omp_get_max_threads()
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        times = []
        for q in queries[:repeats]:
            t = time.perf_counter()
            raw.index.search(q[None, :], 10)  # the faiss index itself: its backend pins one thread
            times.append(time.perf_counter() - t)
        print(f"one query, faiss flat fp32 at {raw.ntotal:,}, {threads} thread(s): median "
              f"{np.median(times) * 1000:.0f} ms", flush=True)
    faiss.omp_set_num_threads(before)


def blas_batches(vectors: np.ndarray, queries: np.ndarray, batch: int = 100) -> None:
    """A batch of ``batch`` queries on the exact flat index, faiss 1.15's default BLAS threshold vs ours."""
    ids = np.arange(len(vectors), dtype=np.int64)
    raw, spec = build_ann(choose_spec(len(vectors), "flat", "fp32"), vectors, ids)
    import faiss

    flat_threads(raw, queries)
    block = np.ascontiguousarray(queries[:batch])
    default = faiss.cvar.distance_compute_blas_threshold
    t = time.perf_counter()
    _, slow = raw.index.search(block, 10)
    slow_s = time.perf_counter() - t
    with blas_for_batches(vectors.shape[1]):
        t = time.perf_counter()
        _, fast = raw.index.search(block, 10)
        fast_s = time.perf_counter() - t
    same = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(slow, fast)])
    dim = vectors.shape[1]
    print(f"{batch} queries at once on flat fp32 at {len(vectors):,}: faiss default threshold {default} "
          f"(below {default // dim} queries of {dim}-d: SIMD loops) {slow_s * 1000:.0f} ms; blas_for_batches "
          f"threshold {BLAS_MIN_QUERIES * dim} (BLAS from {BLAS_MIN_QUERIES} queries) {fast_s * 1000:.0f} ms "
          f"= x{slow_s / fast_s:.1f}; same top-10: {same:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--skip-at-max", default="flat-fp16,hnsw-fp16,hnsw-fp32",
                        help="kinds left out at the largest size (time); empty to run them all")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = args.kinds.split(",")
    base, queries = real_embeddings()
    data = grow(base, max(sizes))
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores; other work on the machine slows every figure)")
    print(f"data: {len(base):,} real all-MiniLM-L6-v2 SciFact sentence vectors grown by noisy copies to "
          f"{len(data):,}; {len(queries):,} real SciFact query vectors; 384-d", flush=True)
    pool = multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1)  # a fresh process per measurement
    with tempfile.TemporaryDirectory(prefix="semsearch-bench-") as tmp:
        workdir = Path(tmp)
        vectors_path = workdir / "vectors.npy"
        np.save(vectors_path, data)
        print(HEADER, flush=True)
        kept: dict = {}
        for n in sizes:
            vectors = data[:n]
            expected = exact_topk_batch(vectors, np.arange(n), queries, 10)
            skip = set(args.skip_at_max.split(",")) if n == max(sizes) and len(sizes) > 1 else set()
            for kind in (k for k in kinds if k not in skip):
                raw, spec, figures = run_kind(kind, vectors, queries, expected, workdir, vectors_path, pool)
                print_row(n, kind, spec, *figures)
                if n == max(sizes) and kind in SWEEPS:
                    kept[kind] = (raw, spec)
                del raw
        largest = data[:max(sizes)]
        print(f"\ntrade-off at {len(largest):,}:", flush=True)
        for kind, (raw, spec) in kept.items():
            sweep(raw, spec, vectors_path, queries, expected, SWEEPS[kind])
        kept.clear()
        print()
        bandwidth_bound(largest)
        blas_batches(largest, queries)
    pool.close()
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
