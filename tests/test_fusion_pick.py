"""`semsearch tune` chooses the hybrid fusion on its held-out queries; index, search and bench use it."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from embed.train.heldout import Heldout, HeldoutVectors
from embed.train.pairs import TrainingPair
from index.cli.app import app
from index.evaluate.fusion_pick import GRID, key, pick_fusion
from index.evaluate.memory_bm25 import MemoryBM25
from index.evaluate.metrics import evaluate
from index.search.fusion import fuse_hits, parse_fusion
from tests.test_tune import write_beir

runner = CliRunner()
WORDS = [f"w{i}" for i in range(30)]


def random_heldout(seed: int, dense_noise: float) -> HeldoutVectors:
    """Queries of two words; each query's relevant passages hold them (BM25 can find them); the dense vectors
    point at the relevant passages with ``dense_noise`` added."""
    rng = np.random.default_rng(seed)
    words = random.Random(seed)
    candidates = [" ".join(words.sample(WORDS, 4)) for _ in range(40)]
    queries, relevant = [], {}
    for q in range(8):
        chosen = {int(i) for i in rng.choice(len(candidates), size=int(rng.integers(1, 4)), replace=False)}
        query = f"q{q} " + " ".join(candidates[min(chosen)].split()[:2])
        queries.append(query)
        relevant[query] = chosen
    passages = rng.normal(size=(len(candidates), 16))
    passages /= np.linalg.norm(passages, axis=1, keepdims=True)
    vectors = np.stack([passages[list(relevant[q])].mean(0) for q in queries]) + dense_noise * rng.normal(size=(8, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return HeldoutVectors(queries, candidates, relevant, vectors.astype(np.float32), passages.astype(np.float32))


def oracle_ndcg(held: HeldoutVectors) -> dict[str, float]:
    """nDCG@10 of every fusion by trec_eval (the bench's metrics) over brute-force rankings."""
    scores = held.query_vectors @ held.passage_vectors.T
    qrels = {q: {key(i): 1 for i in held.relevant[q]} for q in held.queries}
    with MemoryBM25(held.candidates) as bm25:
        lexical = {q: {key(i): s for i, s in bm25.rank(q, 100)} for q in held.queries}
    dense = {q: {key(i): float(s) for i, s in enumerate(scores[row])} for row, q in enumerate(held.queries)}
    runs = {"dense": dense, "lexical": lexical}
    runs |= {c.label(): {q: dict(fuse_hits(c, dense[q], lexical[q])) for q in held.queries} for c in GRID}
    return {name: evaluate(qrels, run)["ndcg@10"] for name, run in runs.items()}


@pytest.mark.parametrize("seed, noise", [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0)])
def test_the_kept_fusion_has_the_best_heldout_ndcg_by_trec_eval(seed, noise):
    held = random_heldout(seed, noise)
    choice = pick_fusion(held)
    expected = oracle_ndcg(held)
    assert choice.ndcg == pytest.approx(expected, abs=1e-9)
    best = max(expected[c.label()] for c in GRID)
    assert choice.ndcg[choice.fusion.label()] == pytest.approx(best)
    assert (choice.queries, choice.candidates) == (8, 40)


def test_a_useless_dense_list_leaves_bm25_in_charge():
    held = random_heldout(5, 0.0)
    useless = np.tile(held.passage_vectors[:1], (len(held.queries), 1)) * -1  # every query "far from" the same one
    held = HeldoutVectors(held.queries, held.candidates, held.relevant, useless, held.passage_vectors)
    choice = pick_fusion(held)
    assert choice.ndcg[choice.fusion.label()] >= choice.ndcg["lexical"] > choice.ndcg["dense"]
    assert choice.ndcg[choice.fusion.label()] > choice.ndcg["rrf:10"]


def test_ties_keep_the_search_default():
    held = random_heldout(0, 0.0)
    one = np.eye(len(held.candidates), dtype=np.float32)
    exact = np.stack([one[sorted(held.relevant[q])].sum(0) for q in held.queries])  # only the relevant score
    held = HeldoutVectors(held.queries, held.candidates, held.relevant, exact / np.linalg.norm(exact, axis=1,
                          keepdims=True), one)
    choice = pick_fusion(held)
    if choice.ndcg["rrf:10"] == max(choice.ndcg[c.label()] for c in GRID):
        assert choice.fusion == parse_fusion("rrf:10")
    assert pick_fusion(None) is None


def test_heldout_keeps_the_vectors_of_its_best_evaluation():
    held = [TrainingPair("q1", "p1"), TrainingPair("q2", "p2")]
    heldout = Heldout(held, ["p1", "p2", "x"], most_candidates=10, seed=0)
    eye = np.eye(3, dtype=np.float32)
    passages = lambda texts: eye[[["p1", "p2", "x"].index(t) for t in texts]]  # noqa: E731
    wrong = lambda qs: eye[[2 for _ in qs]]  # noqa: E731
    right = lambda qs: eye[[int(q[1]) - 1 for q in qs]]  # noqa: E731
    assert heldout.kept() is None
    for encode in (wrong, right, wrong):
        heldout.score(encode, passages)
    kept = heldout.kept()
    assert kept.queries == ["q1", "q2"] and kept.candidates == ["p1", "p2", "x"]
    assert (kept.query_vectors == right(["q1", "q2"])).all()


# --- the command: tune saves it, index records it, search and bench use it ----------------------------------


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    root = tmp_path_factory.mktemp("fusion")
    beir = write_beir(root / "beir")
    out = root / "model"
    args = ["tune", str(beir), "--out", str(out), "--dim", "16", "--epochs", "2", "--batch-size", "8", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return beir, out, json.loads(result.stdout)


def test_tune_saves_the_fusion_it_chose(tuned):
    _, out, summary = tuned
    saved = json.loads((out / "semsearch.json").read_text())
    assert saved == summary["fusion"]
    assert saved["fusion"] in {c.label() for c in GRID} and saved["heldout_queries"] == summary["heldout_queries"]
    assert saved["heldout_ndcg@10"][saved["fusion"]] == max(saved["heldout_ndcg@10"][c.label()] for c in GRID)
    assert "## Hybrid fusion" in (out / "README.md").read_text()


def with_fusion(tuned, tmp_path, fusion: str):
    """A copy of the tuned model whose semsearch.json recommends ``fusion`` (not the default: it must show)."""
    import shutil

    beir, out, summary = tuned
    model = tmp_path / "model"
    shutil.copytree(out, model)
    (model / "semsearch.json").write_text(json.dumps({**summary["fusion"], "fusion": fusion}))
    return beir, model, {**summary, "fusion": {**summary["fusion"], "fusion": fusion}}


def test_index_records_the_models_fusion_and_search_uses_it(tuned, tmp_path):
    from index.api import open_index

    beir, out, summary = with_fusion(tuned, tmp_path, "weighted:0.35")
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, line in enumerate((beir / "corpus.jsonl").read_text().splitlines()[:12]):
        (docs / f"d{i}.txt").write_text(json.loads(line)["text"] + "\n")
    index_dir = tmp_path / "idx"
    result = runner.invoke(app, ["index", str(docs), "--index", str(index_dir), "--model", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["model"]["fusion"] == summary["fusion"]["fusion"]
    with open_index(index_dir) as searcher:
        assert searcher.fusion.label() == summary["fusion"]["fusion"]
    with open_index(index_dir, fusion="rrf:3") as searcher:
        assert searcher.fusion == parse_fusion("rrf:3")
    info = runner.invoke(app, ["info", "--index", str(index_dir), "--json"])
    assert json.loads(info.stdout)["fusion"] == summary["fusion"]["fusion"]
    text = runner.invoke(app, ["info", "--index", str(index_dir)]).output
    assert f"fusion {summary['fusion']['fusion']} (the model's" in " ".join(text.split())
    asked = runner.invoke(app, ["ask", "qw1 qw2", "--index", str(index_dir), "--mode", "hybrid", "--json"])
    assert asked.exit_code == 0 and json.loads(asked.stdout)["hits"], asked.output


def test_bench_rows_default_to_the_models_fusion(tuned, tmp_path):
    beir, out, summary = with_fusion(tuned, tmp_path, "rrf:3")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = runner.invoke(app, ["bench", str(beir), "--model", str(out), "--mode", "hybrid", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert [row["fusion"] for row in json.loads(result.stdout)["results"]] == [summary["fusion"]["fusion"]]
    result = runner.invoke(app, ["bench", str(beir), "--model", str(out), "--mode", "hybrid", "--fusion", "rrf:10",
                                 "--json"], env=env)
    assert [row["fusion"] for row in json.loads(result.stdout)["results"]] == ["rrf:10"]


@pytest.mark.parametrize("text, message", [
    ("{not json", "unreadable"),
    ('{"fusion": 5}', "must be a string"),
    ('{"fusion": "bogus:1"}', "bad fusion 'bogus:1'"),
    ('{"fusion": "weighted:2"}', "between 0 and 1"),
])
def test_a_bad_semsearch_json_is_one_clear_line(tuned, tmp_path, text, message):
    import shutil

    _, out, _ = tuned
    model = tmp_path / "model"
    shutil.copytree(out, model)
    (model / "semsearch.json").write_text(text)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("a short text about rovers\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    for args in (["index", str(tmp_path / "docs"), "--index", str(tmp_path / "idx"), "--model", str(model)],
                 ["bench", str(tuned[0]), "--model", str(model), "--mode", "hybrid"]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 1, result.output
        assert message in result.output and "semsearch.json" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "idx" / "manifest.json").exists()
