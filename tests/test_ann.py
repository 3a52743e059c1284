"""Dense index kinds (index/ann/: one backend per kind behind a factory): results against the exact numpy oracle, incremental updates across
generations (vectors-level and through the real builder), manifest records, reader checks, auto choice."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embed.records import Document
from index.ann.factory import PreviousAnn, build_ann, load_ann, update_ann
from index.ann.faiss_common import blas_for_batches
from index.ann.recall import approx_recall_at_10, exact_topk_batch
from index.ann.search import DenseIndex
from index.ann.spec import FLAT_MAX, AnnSpec, UnknownIndexOption, choose_spec
from index.ann.vectors import exact_topk
from index.build.builder import IndexOptions, index_documents
from index.errors import IndexCorrupt
from index.search.reader import open_reader
from index.search.searcher import Searcher

KINDS = [(t, v) for t in ("flat", "hnsw", "ivf") for v in ("fp32", "fp16", "sq8")]


def low_rank(n: int, dim: int = 48, rank: int = 12, clusters: int = 20, seed: int = 0) -> np.ndarray:
    """Unit vectors near ``clusters`` centres in a random rank-``rank`` subspace, plus a little noise."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((dim, rank)))[0].T
    centres = rng.standard_normal((clusters, rank))
    coords = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, rank))
    x = coords @ basis + 0.05 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def noisy(vectors: np.ndarray, count: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = vectors[rng.integers(0, len(vectors), count)] + 0.1 * rng.standard_normal((count, vectors.shape[1]))
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def dense(index, spec, vectors, ids) -> DenseIndex:
    assert index.spec == spec
    return DenseIndex(index, lambda: (vectors, ids))


def made(kind, vectors, ids):
    spec = choose_spec(len(ids), *kind)
    if spec.type == "ivf":  # small sets probe every list by default: probe a quarter so the search is approximate
        spec = AnnSpec("ivf", spec.vectors, {**spec.params, "nprobe": spec.params["nlist"] // 4})
    index, spec = build_ann(spec, vectors, ids)
    return dense(index, spec, vectors, ids), spec


@pytest.fixture(scope="module")
def data():
    vectors = low_rank(3000)
    ids = np.arange(3000, dtype=np.int64) * 7 + 100  # pks are not row numbers
    return vectors, ids, noisy(vectors, 60)


@pytest.mark.parametrize("kind", KINDS, ids=["-".join(k) for k in KINDS])
def test_topk_against_exact_numpy(data, kind):
    vectors, ids, queries = data
    index, spec = made(kind, vectors, ids)
    assert (spec.type, spec.vectors) == kind and index.ntotal == len(ids)
    scores, pks = index.search(queries, 10)
    expected = exact_topk_batch(vectors, ids, queries, 10)
    recall = np.mean([len(set(e) & set(f)) / 10 for e, f in zip(expected, pks)])
    if kind == ("flat", "fp32"):
        for q, row_pks, row_scores in zip(queries, pks, scores):
            oracle = exact_topk(vectors, ids, q, 10)
            assert list(row_pks) == [pk for pk, _ in oracle]
            assert row_scores == pytest.approx([s for _, s in oracle], abs=1e-5)
    else:
        assert recall >= (0.99 if kind[0] == "flat" else 0.9), recall
    if spec.compact:  # re-scored: the scores are the exact float32 inner products, best first
        rows = index.rows_of(pks.ravel()).reshape(pks.shape)
        exact = np.einsum("qkd,qd->qk", vectors[rows], queries)
        assert np.allclose(scores, exact, atol=1e-5) and np.all(np.diff(scores, axis=1) <= 0)
    assert approx_recall_at_10(index, vectors, ids, queries) == pytest.approx(recall)


def test_recall_measure_can_fail(data):
    vectors, ids, queries = data
    spec = choose_spec(len(ids), "ivf", "fp32")
    spec = AnnSpec("ivf", "fp32", {**spec.params, "nlist": 32, "nprobe": 1})
    index, spec = build_ann(spec, vectors, ids)
    assert approx_recall_at_10(dense(index, spec, vectors, ids), vectors, ids, queries) < 0.9


def test_batched_search_matches_single_queries_and_blas_threshold_is_restored(data):
    import faiss

    vectors, ids, queries = data
    index, _ = made(("ivf", "sq8"), vectors, ids)
    before = faiss.cvar.distance_compute_blas_threshold
    batch = index.search(queries, 5)[1]
    single = np.vstack([index.search(q[None, :], 5)[1] for q in queries])
    assert np.array_equal(batch, single)
    with blas_for_batches(48, 3):
        assert faiss.cvar.distance_compute_blas_threshold == 3 * 48
    assert faiss.cvar.distance_compute_blas_threshold == before


def generations(vectors, ids, tmp_path, kind):
    """Generation 1 from the first 2400 rows; generation 2 drops 300 pks, changes 100 vectors, adds 400."""
    first = slice(0, 2400)
    index, spec = build_ann(choose_spec(2400, *kind), vectors[first], ids[first])
    index.save(tmp_path / "faiss.index")
    rng = np.random.default_rng(5)
    keep = np.sort(rng.choice(2400, 2100, replace=False))
    new_vectors = np.concatenate([vectors[first][keep], vectors[2400:2800]])
    new_ids = np.concatenate([ids[first][keep], ids[2400:2800]])
    changed = rng.choice(2100, 100, replace=False)
    new_vectors[changed] = noisy(vectors, 100, seed=9)
    previous = PreviousAnn(spec, tmp_path / "faiss.index", vectors[first], ids[first])
    return previous, new_vectors, new_ids, changed


@pytest.mark.parametrize("kind", [("ivf", "sq8"), ("ivf", "fp32"), ("hnsw", "sq8"), ("hnsw", "fp32")])
def test_incremental_generation_removes_changes_and_adds(data, tmp_path, kind):
    vectors, ids, queries = data
    previous, new_vectors, new_ids, changed = generations(vectors, ids, tmp_path, kind)
    index, spec = update_ann(previous, new_vectors, new_ids, *kind)
    assert index.count() == len(new_ids)
    if kind[0] == "ivf":  # same centroids, updated in place
        assert index.ntotal == len(new_ids)
        assert spec.params["trained_on"] == 2400 and spec.params["added_since_training"] == 400 + 100
    else:  # 300 removed + 100 changed rows are tombstones in the copied graph
        assert spec.params["tombstones"] == 400 and index.ntotal == 2400 + 500
    searched = dense(index, spec, new_vectors, new_ids)
    gone = set(previous.ids.tolist()) - set(new_ids.tolist())
    _, pks = searched.search(np.vstack([queries, previous.vectors[:50]]), 20)
    assert not gone & set(pks.ravel().tolist())
    assert approx_recall_at_10(searched, new_vectors, new_ids, queries) >= 0.9
    _, top = searched.search(new_vectors[changed], 1)  # a changed vector is found under its own pk
    assert np.mean(top[:, 0] == new_ids[changed]) >= 0.95


def test_ivf_retrains_when_grown_fourfold_or_drifted(tmp_path):
    base = low_rank(4000)
    ids = np.arange(len(base), dtype=np.int64)
    index, spec = build_ann(choose_spec(600, "ivf"), base[:600], ids[:600])
    index.save(tmp_path / "faiss.index")
    previous = PreviousAnn(spec, tmp_path / "faiss.index", base[:600], ids[:600])
    _, grown = update_ann(previous, base[:2401], ids[:2401], "ivf")
    assert grown.params["trained_on"] == 2401
    _, kept = update_ann(previous, base[:700], ids[:700], "ivf")
    assert kept.params["trained_on"] == 600
    other = low_rank(200, seed=42)  # another subspace: fits the old centroids badly
    _, drifted = update_ann(previous, np.vstack([base[:600], other]), np.arange(800, dtype=np.int64), "ivf")
    assert drifted.params["trained_on"] == 800 and drifted.params["added_since_training"] == 0


def test_hnsw_rebuilds_when_tombstones_pile_up(tmp_path):
    base = low_rank(1000)
    ids = np.arange(1000, dtype=np.int64)
    index, spec = build_ann(choose_spec(1000, "hnsw"), base, ids)
    index.save(tmp_path / "faiss.index")
    previous = PreviousAnn(spec, tmp_path / "faiss.index", base, ids)
    index, spec = update_ann(previous, base[300:], ids[300:], "hnsw")
    assert spec.params["tombstones"] == 0 and index.ntotal == 700


def test_auto_picks_flat_up_to_the_threshold_and_keeps_named_options():
    assert choose_spec(2000).type == "flat" and choose_spec(2000).exact
    assert choose_spec(FLAT_MAX).type == "flat"
    assert (choose_spec(FLAT_MAX + 1).type, choose_spec(FLAT_MAX + 1).vectors) == ("ivf", "sq8")
    named = choose_spec(2000, "hnsw")
    assert named.requested == {"index_type": "hnsw"} and choose_spec(50, previous=named).type == "hnsw"
    assert AnnSpec.from_manifest({"type": "IDMap2,Flat", "exact": True}) == AnnSpec()
    with pytest.raises(UnknownIndexOption):
        choose_spec(10, "annoy")
    with pytest.raises(UnknownIndexOption):
        IndexOptions(vectors="int4")


def article(i: int, variant: str = "") -> Document:
    topics = ["moon rockets orbit", "bread flour oven", "river fish water", "chess openings board"]
    text = " ".join(f"{topics[(i + j) % 4]} note {i} part {j} {variant}." for j in range(6))
    return Document(f"doc{i}.txt", f"Doc {i}", text, f"doc{i}.txt")


@pytest.mark.parametrize("index_type", ["ivf", "hnsw"])
def test_generations_through_the_builder(tmp_path, tiny_bert_dir, index_type):
    directory = tmp_path / "idx"
    options = IndexOptions(model=str(tiny_bert_dir), index_type=index_type, vectors="sq8", min_tokens=4)
    docs = [article(i) for i in range(40)]
    index_documents(docs, directory, options)
    first = json.loads((directory / "manifest.json").read_text())["faiss"]
    assert (first["type"], first["vectors"], first["exact"]) == (index_type, "sq8", False)
    from index.api import describe_index
    from index.cli.format import vector_index_text

    shown = vector_index_text(describe_index(directory))  # what `semsearch info` prints
    assert shown.startswith(first["description"]) and "approximate" in shown
    later = [article(i) for i in range(5, 40)] + [article(40), article(41)]
    later[0] = article(5, "changed text")
    report = index_documents(later, directory, IndexOptions(min_tokens=4))  # the index keeps its kind
    manifest = json.loads((directory / "manifest.json").read_text())
    faiss_meta = manifest["faiss"]
    assert faiss_meta["type"] == index_type and faiss_meta["requested"]["index_type"] == index_type
    if index_type == "ivf":
        assert faiss_meta["params"]["trained_on"] == first["params"]["trained_on"]
        assert faiss_meta["params"]["added_since_training"] > 0
    else:
        assert faiss_meta["params"]["tombstones"] > 0
    reader = open_reader(directory)
    vectors, ids = reader.vectors()
    assert reader.faiss_index.ntotal == report.vectors == len(ids)
    gone = {pk for pk, in reader.store.conn.execute("SELECT pk FROM passages")} ^ set(ids.tolist())
    assert not gone
    searcher = Searcher(reader)
    for q in noisy(vectors, 10):
        pairs, oracle = searcher.dense_pairs(q, 5), exact_topk(vectors, ids, q, 5)
        assert [pk for pk, _ in pairs] == [pk for pk, _ in oracle]
        assert [s for _, s in pairs] == pytest.approx([s for _, s in oracle], abs=1e-5)
    searcher.close()


def test_reader_checks_live_counts(tmp_path, tiny_bert_dir):
    directory = tmp_path / "idx"
    options = IndexOptions(model=str(tiny_bert_dir), index_type="hnsw", min_tokens=4)
    index_documents([article(i) for i in range(12)], directory, options)
    index_documents([article(i) for i in range(2, 12)], directory, IndexOptions(min_tokens=4))
    manifest = json.loads((directory / "manifest.json").read_text())
    index = load_ann(AnnSpec.from_manifest(manifest["faiss"]), directory / manifest["generation"] / "faiss.index")
    assert index.ntotal > manifest["counts"]["vectors"] == index.count()
    open_reader(directory).close()
    manifest["counts"]["vectors"] = index.ntotal  # tombstones are not vectors
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt, match="holds"):
        open_reader(directory)


def test_small_index_defaults_to_exact_flat(tmp_path, tiny_bert_dir):
    directory = tmp_path / "idx"
    index_documents([article(i) for i in range(6)], directory, IndexOptions(model=str(tiny_bert_dir), min_tokens=4))
    faiss_meta = json.loads((directory / "manifest.json").read_text())["faiss"]
    assert faiss_meta == {"type": "flat", "vectors": "fp32", "exact": True, "description": "IDMap2,Flat",
                          "params": {}, "requested": {}}
    reader = open_reader(directory)
    vectors, ids = reader.vectors()
    assert np.array_equal(reader.faiss_index.reconstruct(int(ids[3])), vectors[3])
    reader.close()


def test_npy_rows_reads_rows_on_demand(tmp_path):
    from index.ann.vectors import NpyRows, save_array

    vectors = low_rank(50)
    save_array(tmp_path / "v.npy", vectors)
    rows = NpyRows(tmp_path / "v.npy")
    assert len(rows) == 50 and np.array_equal(rows[np.array([7, 3, 7])], vectors[[7, 3, 7]])
    assert np.array_equal(rows[49], vectors[49])
    with pytest.raises(IndexError):
        rows[np.array([50])]
    rows.close()


@pytest.mark.parametrize("block, k", [(7, 1), (7, 10), (64, 10), (10_000, 10), (10_000, 60)])
def test_numpy_flat_equals_exact_and_faiss(block, k, monkeypatch):
    from index.ann.faiss_flat import FaissFlat
    from index.ann.numpy_flat import NumpyFlat

    vectors, ids = low_rank(50), np.arange(1000, 1050, dtype=np.int64)
    vectors[[20, 33, 41]] = vectors[5]  # exact ties: settled by pk, as the oracle orders them
    queries = np.vstack([vectors[5], low_rank(8, seed=9)])
    monkeypatch.setattr(NumpyFlat, "BLOCK", block)
    scores, pks = NumpyFlat(vectors, ids).search(queries, k)
    assert pks.shape == (len(queries), k)
    for q, row_pks, row_scores in zip(queries, pks, scores):
        oracle = exact_topk(vectors, ids, q, k)
        assert list(row_pks[: len(oracle)]) == [pk for pk, _ in oracle] and np.all(row_pks[len(oracle):] == -1)
        assert row_scores[: len(oracle)] == pytest.approx([s for _, s in oracle], abs=1e-5)
    distinct = low_rank(50)  # faiss breaks exact ties its own way, so compare it on distinct vectors
    faiss_scores, faiss_pks = FaissFlat.build(AnnSpec(), distinct, ids).search(queries, min(k, 50))
    scores, pks = NumpyFlat(distinct, ids).search(queries, k)
    assert np.array_equal(faiss_pks, pks[:, : min(k, 50)])
    assert np.allclose(faiss_scores, scores[:, : min(k, 50)], atol=1e-5)
