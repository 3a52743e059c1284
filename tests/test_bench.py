"""`semsearch bench`: metrics worked out by hand on a tiny BEIR set, passage -> document collapse, the
index cache, the CLI (JSON shape, TREC runs, bad datasets) and, where ../shared is present, SciFact BM25."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from index.evaluate.bench import BenchOptions, run_bench
from index.evaluate.queries import collapse, deepening
from index.cli.app import app
from index.search.fusion import parse_fusion
from index.search.reader import open_reader

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
runner = CliRunner()

FILLER = (
    "The committee reviewed the quarterly report and approved the budget for the coming season. "
    "Members discussed staffing, travel plans and the schedule of public meetings in detail. "
)


def long_text() -> str:
    """Three paragraphs, too long to share one passage; only the last sentence says 'narwhal'."""
    paragraph = FILLER * 5
    return f"{paragraph}\n\n{paragraph}\n\n{paragraph}A narwhal was seen near the harbour."


# q1 "zebra": only d1 -> relevant at rank 1.  q2 "yellow banana": d2 holds both words, d3 only
# "banana" -> the relevant d3 is at rank 2.  q3 "walrus": d4 (relevant) at rank 1; the other relevant
# document, d5, never matches.  q4 "narwhal": only the third passage of the long d6 -> d6 at rank 1.
CORPUS = [
    {"_id": "d1", "title": "Stripes", "text": "A zebra grazes on the savanna grass."},
    {"_id": "d2", "title": "Fruit colours", "text": "A ripe banana is yellow; a yellow banana is sweet."},
    {"_id": "d3", "title": "Baking", "text": "Banana bread needs flour, eggs and butter."},
    {"_id": "d4", "title": "Arctic", "text": "The walrus rests on the ice floe."},
    {"_id": "d5", "title": "Tusks", "text": "Large marine mammals with long ivory teeth."},
    {"_id": "d6", "title": "Minutes", "text": long_text()},
    {"_id": "d7", "title": "Weather", "text": "Rain is expected over the hills tomorrow."},
]
QUERIES = {"q1": "zebra", "q2": "yellow banana", "q3": "walrus", "q4": "narwhal"}
QRELS = [("q1", "d1", 1), ("q2", "d3", 1), ("q3", "d4", 1), ("q3", "d5", 1), ("q4", "d6", 1)]

G3 = 1 / math.log2(3)  # DCG gain of a relevant document at rank 2
EXPECTED = {
    "ndcg@10": (1 + G3 + 1 / (1 + G3) + 1) / 4,
    "recall@1": (1 + 0 + 0.5 + 1) / 4,
    "recall@5": (1 + 1 + 0.5 + 1) / 4,
    "recall@10": (1 + 1 + 0.5 + 1) / 4,
    "recall@100": (1 + 1 + 0.5 + 1) / 4,
    "mrr@10": (1 + 0.5 + 1 + 1) / 4,
    "map@100": (1 + 0.5 + 0.5 + 1) / 4,
}


def write_beir(root: Path, corpus=CORPUS, queries=QUERIES, qrels=QRELS) -> Path:
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus), encoding="utf-8")
    lines = "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items())
    (root / "queries.jsonl").write_text(lines, encoding="utf-8")
    rows = "".join(f"{q}\t{d}\t{s}\r\n" for q, d, s in qrels)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\r\n" + rows, encoding="utf-8")
    return root


@pytest.fixture
def beir(tmp_path) -> Path:
    return write_beir(tmp_path / "tiny")


def lexical(dataset: Path, cache: Path, **kw):
    return run_bench(dataset, BenchOptions(mode="lexical", cache_dir=cache, keep_runs=True, **kw))


def test_lexical_metrics_match_the_hand_computed_values(beir, tmp_path):
    report = lexical(beir, tmp_path / "cache")
    (row,) = report.results
    assert row.mode == "lexical" and row.available
    assert row.metrics == pytest.approx(EXPECTED, abs=1e-6)
    assert list(row.run["q2"])[:2] == ["d2", "d3"]
    assert report.queries == 4 and report.index.documents == 7 and report.model is None
    assert report.index.passages > report.index.documents  # d6 was cut into several passages


def test_document_score_is_its_best_passage(beir, tmp_path):
    report = lexical(beir, tmp_path / "cache")
    run = report.results[0].run
    reader = open_reader(Path(report.index.directory))
    try:
        pairs = reader.store.lexical_search("narwhal", 10)
        found = reader.store.passages_by_pk(pk for pk, _ in pairs)
    finally:
        reader.close()
    (hit,) = [found[pk].passage for pk, _ in pairs]  # only d6's last passage says it
    assert hit.source == "d6" and hit.ordinal > 0
    assert run["q4"] == {"d6": pytest.approx(pairs[0][1])}


def test_collapse_keeps_the_maximum_and_the_top_k():
    pairs = [("b", 0.9), ("a", 0.8), ("a", 0.95), ("b", 0.1), ("c", 0.5)]  # (document, passage score)
    assert collapse(pairs) == {"b": 0.9, "a": 0.95, "c": 0.5}
    assert collapse(pairs, k=2) == {"a": 0.95, "b": 0.9}


def test_deepening_searches_until_k_documents():
    source_of = {pk: f"doc{pk // 10}" for pk in range(100)}  # ten passages per document
    ranking = [(source_of[pk], 1.0 - pk / 100) for pk in range(100)]
    depths = []

    def search(depth):
        depths.append(depth)
        return ranking[:depth]

    pairs = deepening(search, k=3, depth=5)
    assert depths == [5, 20, 80] and len({doc for doc, _ in pairs}) >= 3
    depths.clear()
    assert len(deepening(search, k=50, depth=40)) == 100 and depths == [40, 160]


def test_queries_are_asked_through_the_product_searcher(beir, tmp_path, monkeypatch):
    from index.search.searcher import Searcher

    asked = []
    original = Searcher.ask

    def spy(self, question, k=5, mode="auto"):
        result = original(self, question, k, mode)
        asked.append((question, mode, set(result.timings_ms)))
        return result

    monkeypatch.setattr(Searcher, "ask", spy)
    lexical(beir, tmp_path / "cache")
    assert {q for q, _, _ in asked} == set(QUERIES.values())
    assert all(mode == "lexical" and parts == {"encode", "search"} for _, mode, parts in asked)


def test_second_run_uses_the_cache(beir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = lexical(beir, cache)
    manifest = Path(first.index.directory) / "manifest.json"
    before = manifest.stat().st_mtime_ns
    import index.build.builder

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cached index was rebuilt")

    monkeypatch.setattr(index.build.builder, "index_documents", no_rebuild)
    second = lexical(beir, cache)
    assert not first.index.cached and second.index.cached
    assert second.index.directory == first.index.directory and manifest.stat().st_mtime_ns == before
    assert second.index.passages_per_s == first.index.passages_per_s > 0
    assert second.results[0].metrics == first.results[0].metrics


def test_changed_corpus_gets_a_new_index(beir, tmp_path):
    cache = tmp_path / "cache"
    first = lexical(beir, cache)
    write_beir(beir, corpus=CORPUS + [{"_id": "d8", "title": "Extra", "text": "One more document."}])
    second = lexical(beir, cache)
    assert not second.index.cached and second.index.directory != first.index.directory
    assert second.index.documents == 8


def test_dense_run_is_the_exact_max_over_passages(beir, tmp_path, tiny_bert_dir, tiny_bert_encoder):
    options = BenchOptions(mode="dense", model=str(tiny_bert_dir), k=3, cache_dir=tmp_path / "c", keep_runs=True)
    report = run_bench(beir, options)
    (row,) = report.results
    assert row.mode == "dense" and row.available and report.index.vectors == report.index.passages
    assert 0 < row.latency_ms["encode_p50"] <= row.latency_ms["p50"]
    reader = open_reader(Path(report.index.directory))
    try:
        vectors, pks = reader.vectors()
        stored = reader.store.passages_by_pk(int(pk) for pk in pks)
        assert stored[int(pks[0])].passage.text.startswith(stored[int(pks[0])].passage.title)  # title in text
    finally:
        reader.close()
    for qid, question in QUERIES.items():
        scores = np.asarray(vectors) @ tiny_bert_encoder.encode_queries([question])[0]
        best: dict[str, float] = {}
        for pk, score in zip(pks, scores):
            source = stored[int(pk)].passage.source
            best[source] = max(best.get(source, -1.0), float(score))
        top = dict(sorted(best.items(), key=lambda item: (-item[1], item[0]))[:3])
        assert row.run[qid].keys() == top.keys()
        assert list(row.run[qid].values()) == pytest.approx(list(top.values()), abs=1e-5)


def test_all_modes_with_several_fusions_save_one_run_each(beir, tmp_path, tiny_bert_dir):
    target = tmp_path / "runs" / "tiny.trec"
    args = ["bench", str(beir), "--model", str(tiny_bert_dir), "--cache-dir", str(tmp_path / "c"),
            "--fusion", "rrf:10", "--fusion", "weighted:0.5", "--save-run", str(target), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    rows = [(r["mode"], r.get("fusion")) for r in payload["results"]]
    assert rows == [("lexical", None), ("dense", None), ("hybrid", "rrf:10"), ("hybrid", "weighted:0.5")]
    names = sorted(p.name for p in target.parent.iterdir())
    assert names == ["tiny.dense.trec", "tiny.hybrid-rrf10.trec", "tiny.hybrid-weighted0.5.trec", "tiny.lexical.trec"]
    assert payload["results"][0]["metrics"] == pytest.approx(EXPECTED, abs=1e-5)


def test_json_shape(beir, tmp_path):
    result = runner.invoke(app, ["bench", str(beir), "--mode", "lexical", "--json", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {"dataset", "split", "queries", "passages", "results"} <= set(payload)
    assert (payload["dataset"], payload["split"], payload["queries"]) == ("tiny", "test", 4)
    (row,) = payload["results"]
    assert {"mode", "metrics", "latency_ms", "index_passages_per_s"} <= set(row)
    assert set(row["metrics"]) == set(EXPECTED)
    assert {"encode_p50", "search_p50", "p50", "p95", "p99"} <= set(row["latency_ms"])
    assert row["metrics"] == pytest.approx(EXPECTED, abs=1e-5) and row["index_passages_per_s"] > 0
    again = json.loads(runner.invoke(app, ["bench", str(beir), "--mode", "lexical", "--json", "--cache-dir", str(tmp_path)]).stdout)
    assert not payload["cached"] and again["cached"]


def test_table_output_says_cached(beir, tmp_path):
    args = ["bench", str(beir), "--mode", "lexical", "--cache-dir", str(tmp_path)]
    assert "index built" in runner.invoke(app, args).stdout
    text = runner.invoke(app, args).stdout
    assert "index cached" in text and "nDCG@10" in text and "0.8110" in text


def test_save_run_trec_format(beir, tmp_path):
    target = tmp_path / "run.txt"
    result = runner.invoke(app, ["bench", str(beir), "--mode", "lexical", "--cache-dir", str(tmp_path / "c"),
                                 "--save-run", str(target), "-k", "2"])
    assert result.exit_code == 0, result.output
    lines = target.read_text().splitlines()
    fields = [line.split() for line in lines]
    assert all(len(f) == 6 and f[1] == "Q0" and f[5] == "semsearch-lexical" for f in fields)
    assert [(f[0], f[2], f[3]) for f in fields] == [
        ("q1", "d1", "1"), ("q2", "d2", "1"), ("q2", "d3", "2"), ("q3", "d4", "1"), ("q4", "d6", "1")
    ]
    assert all(float(a[4]) >= float(b[4]) for a, b in zip(fields, fields[1:]) if a[0] == b[0])


def test_plot_writes_a_png(beir, tmp_path):
    target = tmp_path / "recall.png"
    result = runner.invoke(app, ["bench", str(beir), "--mode", "lexical", "--cache-dir", str(tmp_path), "--plot", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_model_skips_dense_but_keeps_lexical(beir, tmp_path):
    args = ["bench", str(beir), "--model", str(tmp_path / "no-such-model"), "--cache-dir", str(tmp_path / "c")]
    result = runner.invoke(app, args + ["--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert [(r["mode"], r["available"]) for r in rows] == [("lexical", True), ("dense", False), ("hybrid", False)]
    assert "no-such-model" in rows[1]["notice"] and rows[0]["metrics"] == pytest.approx(EXPECTED, abs=1e-5)
    only_dense = runner.invoke(app, args + ["--mode", "dense"])
    assert only_dense.exit_code == 1 and "no-such-model" in only_dense.stderr
    assert "Traceback" not in only_dense.output


def test_lexical_mode_never_loads_a_model(beir, tmp_path, monkeypatch):
    import embed.encode.sentence_transformers

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(embed.encode.sentence_transformers, "load_encoder", refuse)
    report = run_bench(beir, BenchOptions(mode="lexical", model="no/such-model", cache_dir=tmp_path))
    assert report.results[0].available and report.index.vectors == 0


def test_limit_and_fusion_options(beir, tmp_path):
    report = run_bench(beir, BenchOptions(mode="lexical", limit=2, cache_dir=tmp_path))
    assert report.queries == 2
    assert report.results[0].metrics["mrr@10"] == pytest.approx((1 + 0.5) / 2)
    bad = runner.invoke(app, ["bench", str(beir), "--fusion", "borda", "--cache-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "borda" in bad.output
    assert BenchOptions(fusions=(parse_fusion("rrf:60"),)).fusion_list()[0].rrf_k == 60


def bad_corpus(root: Path) -> tuple[Path, str]:
    write_beir(root)
    (root / "corpus.jsonl").write_text('{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": \n', encoding="utf-8")
    return root, "corpus.jsonl line 2"


def bad_qrels(root: Path) -> tuple[Path, str]:
    write_beir(root)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\n", encoding="utf-8")
    return root, "test.tsv line 3"


def bad_queries(root: Path) -> tuple[Path, str]:
    write_beir(root)
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "zebra"}\n{"_id": "q2"}\n', encoding="utf-8")
    return root, "queries.jsonl line 2"


def bad_squad(root: Path) -> tuple[Path, str]:
    root.mkdir()
    target = root / "dev.json"
    target.write_text('{"data": [\n  {"title": "x",\n', encoding="utf-8")
    return target, "dev.json line 3"


def missing_split(root: Path) -> tuple[Path, str]:
    write_beir(root)
    (root / "qrels" / "test.tsv").unlink()
    return root, "test.tsv"


@pytest.mark.parametrize("make", [bad_corpus, bad_qrels, bad_queries, bad_squad, missing_split])
def test_bad_dataset_exits_1_with_file_and_line(tmp_path, make):
    target, where = make(tmp_path / "data")
    result = runner.invoke(app, ["bench", str(target), "--mode", "lexical", "--cache-dir", str(tmp_path / "c")])
    assert result.exit_code == 1, result.output
    assert where in result.stderr and "error:" in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not (DATASETS / "beir_scifact").is_dir(), reason="../shared/datasets is not present")
def test_scifact_bm25_reaches_the_beir_figure(tmp_path):
    report = run_bench(DATASETS / "beir_scifact", BenchOptions(mode="lexical", cache_dir=tmp_path))
    metrics = report.results[0].metrics
    assert report.queries == 300 and report.index.documents == 5183
    assert metrics["ndcg@10"] >= 0.665, metrics  # BEIR BM25 0.665, Pyserini flat 0.679
    assert metrics["recall@100"] >= 0.88, metrics


def test_approximate_index_reports_recall_against_exact(beir, tmp_path, tiny_bert_dir):
    base = ["bench", str(beir), "--mode", "dense", "--model", str(tiny_bert_dir), "--cache-dir", str(tmp_path / "c")]
    result = runner.invoke(app, base + ["--index-type", "hnsw", "--vectors", "sq8", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["index_faiss"].startswith("IDMap,HNSW") and payload["index_faiss"].endswith("SQ8")
    assert payload["approx_recall@10"] == 1.0  # a graph over a handful of passages finds them all
    table = runner.invoke(app, base + ["--index-type", "hnsw", "--vectors", "sq8"])
    assert table.exit_code == 0 and "recall@10 against exact search 1.0000" in table.stdout
    exact = json.loads(runner.invoke(app, base + ["--json"]).stdout)
    assert exact["index_faiss"] == "IDMap2,Flat" and exact["approx_recall@10"] is None


@pytest.mark.parametrize("option, value", [("--index-type", "annoy"), ("--vectors", "int4")])
def test_bench_rejects_unknown_index_options(beir, tmp_path, option, value):
    result = runner.invoke(app, ["bench", str(beir), "--mode", "lexical", option, value, "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2 and value in result.output


class ShiftedIndex:
    """Returns the exact answer shifted by one rank: the true best passage is always missed."""

    spec = None

    def __init__(self, vectors, ids):
        self.vectors, self.ids = vectors, ids

    def search(self, queries, k):
        order = np.argsort(-(queries @ self.vectors.T), axis=1, kind="stable")[:, 1:k + 1]
        return None, self.ids[order]


def test_approx_recall_counts_the_missed_neighbours(tmp_path):
    from types import SimpleNamespace

    from index.evaluate.queries import approx_recall

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((40, 8)).astype(np.float32)
    ids = np.arange(100, 140, dtype=np.int64)
    reader = SimpleNamespace(vectors=lambda: (vectors, ids), faiss_index=ShiftedIndex(vectors, ids))
    queries = [rng.standard_normal(8).astype(np.float32) for _ in range(5)]
    assert approx_recall(reader, queries) == pytest.approx(0.9)  # 9 of each exact top 10
    assert approx_recall(reader, None) is None
