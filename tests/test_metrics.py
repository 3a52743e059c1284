"""Retrieval metrics (hand-worked values and an independent oracle) and the benchmark report helpers."""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

import pytest

from index.evaluate.datasets import load_dataset
from index.evaluate.metrics import MetricsUnavailable, evaluate, recall_curve
from index.evaluate.report import PlotUnavailable, latency_summary, plot_recall, write_trec_run

KEYS = ["ndcg@10", "recall@1", "recall@5", "recall@10", "recall@100", "mrr@10", "map@100"]


def write_hand_set(root: Path) -> Path:
    """15 documents d01..d15, five test queries; qrels with CRLF line ends."""
    root.mkdir()
    (root / "corpus.jsonl").write_text(
        "".join(f'{{"_id": "d{i:02d}", "title": "T{i}", "text": "text {i}"}}\n' for i in range(1, 16)))
    (root / "queries.jsonl").write_text("".join(f'{{"_id": "q{i}", "text": "query {i}"}}\n' for i in range(1, 6)))
    (root / "qrels").mkdir()
    rows = ["q1\td01\t1", "q1\td03\t1", "q2\td02\t1", "q3\td05\t1", "q4\td06\t1", "q4\td07\t0", "q5\td01\t2"]
    (root / "qrels" / "test.tsv").write_bytes(("query-id\tcorpus-id\tscore\r\n" + "\r\n".join(rows) + "\r\n").encode())
    return root


HAND_RUN = {
    "q1": {"d01": 0.9, "d02": 0.8, "d03": 0.7, "d04": 0.6},  # relevant at ranks 1 and 3
    "q2": {"d04": 0.9, "d01": 0.5, "d02": 0.5},  # tie: d01 before d02 by id, so relevant d02 is rank 3
    "q3": {**{f"d{i:02d}": 2.0 - i / 100 for i in range(6, 16)}, "d05": 0.1},  # relevant at rank 11
    "q4": {"d07": 0.9},  # only the doc judged 0 (not relevant)
    # q5 is absent from the run: it scores 0 everywhere but still counts in every mean
    "q9": {"d01": 1.0},  # not in the qrels: ignored
}


def test_hand_worked_values(tmp_path: Path) -> None:
    ds = load_dataset(write_hand_set(tmp_path / "hand"))
    assert len(ds.qrels) == 5
    idcg_two = 1 + 1 / math.log2(3)  # ideal: relevant docs at ranks 1 and 2
    ndcg_q1 = (1 / math.log2(2) + 1 / math.log2(4)) / idcg_two  # ranks 1 and 3: (1 + 0.5) / 1.6309 = 0.9197
    ndcg_q2 = (1 / math.log2(4)) / 1  # rank 3, one relevant doc: 0.5
    expected = {
        "ndcg@10": (ndcg_q1 + ndcg_q2) / 5,  # q3's hit is at rank 11: 0
        "recall@1": (1 / 2) / 5,  # only q1 has a hit at rank 1, one of its two relevant docs
        "recall@5": (1 + 1) / 5,  # q1 and q2 complete
        "recall@10": (1 + 1) / 5,
        "recall@100": (1 + 1 + 1) / 5,  # q3 found at rank 11
        "mrr@10": (1 / 1 + 1 / 3) / 5,  # q1 rank 1, q2 rank 3, q3 rank 11 is past the cutoff
        "map@100": ((1 / 1 + 2 / 3) / 2 + (1 / 3) / 1 + (1 / 11) / 1) / 5,  # precision at each relevant hit
    }
    scores = evaluate(ds.qrels, HAND_RUN, k_values=(1, 5, 10, 100))
    assert list(scores) == KEYS
    assert scores == pytest.approx(expected, abs=1e-12)
    assert evaluate(ds.qrels, HAND_RUN) == scores  # (1, 5, 10, 100) is the default


def test_graded_gain_and_judged_zero_docs() -> None:
    qrels = {"q": {"a": 2, "b": 1, "z": 0}}
    run = {"q": {"z": 3.0, "b": 2.0, "a": 1.0}}  # ranks: z (not relevant), b (gain 1), a (gain 2)
    dcg = 1 / math.log2(3) + 2 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    scores = evaluate(qrels, run)
    assert scores["ndcg@10"] == pytest.approx(dcg / idcg)
    assert scores["mrr@10"] == pytest.approx(1 / 2)
    assert scores["map@100"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def reference_metrics(qrels: dict, run: dict) -> dict[str, float]:
    """Independent textbook formulas (linear gain nDCG, AP over all relevant docs)."""
    totals = dict.fromkeys(KEYS, 0.0)
    for qid, judged in qrels.items():
        relevant = {d: g for d, g in judged.items() if g > 0}
        ranked = [d for d, _ in sorted(run.get(qid, {}).items(), key=lambda x: (-x[1], x[0]))]
        gains = [relevant.get(d, 0) for d in ranked]
        dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]))
        ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(relevant.values(), reverse=True)[:10]))
        totals["ndcg@10"] += dcg / ideal
        for k in (1, 5, 10, 100):
            totals[f"recall@{k}"] += sum(1 for g in gains[:k] if g) / len(relevant)
        first = next((i for i, g in enumerate(gains[:10]) if g), None)
        totals["mrr@10"] += 0 if first is None else 1 / (first + 1)
        hits = [i for i, g in enumerate(gains[:100]) if g]
        totals["map@100"] += sum((n + 1) / (i + 1) for n, i in enumerate(hits)) / len(relevant)
    return {key: value / len(qrels) for key, value in totals.items()}


def random_case(seed: int) -> tuple[dict, dict]:
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(300)]
    qrels, run = {}, {}
    for q in range(40):
        qrels[f"q{q}"] = {d: rng.choice([0, 1, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 15))}
        if not any(qrels[f"q{q}"].values()):
            qrels[f"q{q}"][docs[q]] = 1
        if q % 7:  # every 7th query gets no run entry at all
            depth = rng.choice([0, 5, 30, 150])
            run[f"q{q}"] = {d: float(rng.randint(0, 20)) for d in rng.sample(docs, depth)}  # many ties
    return qrels, run


@pytest.mark.parametrize("seed", range(5))
def test_library_matches_reference_formulas(seed: int) -> None:
    qrels, run = random_case(seed)
    assert evaluate(qrels, run) == pytest.approx(reference_metrics(qrels, run), abs=1e-9)


def test_recall_curve_matches_evaluate_and_rises() -> None:
    qrels, run = random_case(7)
    curve = recall_curve(qrels, run, [100, 1, 5, 10, 2, 50])
    assert list(curve) == [1, 2, 5, 10, 50, 100]
    scores = evaluate(qrels, run)
    assert [curve[k] for k in (1, 5, 10, 100)] == pytest.approx([scores[f"recall@{k}"] for k in (1, 5, 10, 100)])
    assert all(a <= b for a, b in zip(list(curve.values()), list(curve.values())[1:]))


def test_custom_k_values_change_recall_keys() -> None:
    scores = evaluate({"q": {"a": 1}}, {"q": {"b": 2.0, "a": 1.0}}, k_values=(2, 1))
    assert list(scores) == ["ndcg@10", "recall@1", "recall@2", "mrr@10", "map@100"]
    assert (scores["recall@1"], scores["recall@2"]) == (0.0, 1.0)


@pytest.mark.parametrize(("qrels", "run", "k_values", "words"), [
    ({"q": {"a": 1}}, {}, (0,), "positive integer"),
    ({"q": {"a": 1}}, {}, ("5",), "positive integer"),
    ({"q": {"a": 1}}, {}, (), "at least one cutoff"),
    ({"q": {"a": 0}}, {}, (1,), "no relevant judgement"),
    ({}, {}, (1,), "no relevant judgement"),
    ({"q": {"a": 1}}, {"q": {"a": float("nan")}}, (1,), "not a number"),
])
def test_bad_inputs(qrels: dict, run: dict, k_values: tuple, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        evaluate(qrels, run, k_values=k_values)


def test_missing_library_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pytrec_eval", None)
    with pytest.raises(MetricsUnavailable, match="pip install pytrec-eval-terrier"):
        evaluate({"q": {"a": 1}}, {"q": {"a": 1.0}})


# --- report helpers ---------------------------------------------------------------------------------


def test_latency_summary_linear_percentiles() -> None:
    summary = latency_summary([10.0, 20.0, 30.0, 40.0, 50.0])
    # linear: position p/100 * (n - 1) = 2 -> 30; 3.8 -> 40 + 0.8 * 10 = 48; 3.96 -> 49.6
    assert summary == pytest.approx(
        {"count": 5, "mean": 30.0, "min": 10.0, "p50": 30.0, "p95": 48.0, "p99": 49.6, "max": 50.0})
    assert latency_summary([7.5])["p99"] == 7.5


@pytest.mark.parametrize("samples", [[], [1.0, -2.0], [float("inf")]])
def test_latency_summary_rejects(samples: list) -> None:
    with pytest.raises(ValueError):
        latency_summary(samples)


def test_write_trec_run(tmp_path: Path) -> None:
    run = {"q2": {"b": 0.5, "a": 0.5, "c": 0.9}, "q1": {"x": -1.25}}
    path = write_trec_run(tmp_path / "runs" / "dense.trec", run, "semsearch-dense")
    assert path.read_text().splitlines() == [
        "q1 Q0 x 1 -1.25 semsearch-dense",
        "q2 Q0 c 1 0.9 semsearch-dense",
        "q2 Q0 a 2 0.5 semsearch-dense",  # tie ordered by id
        "q2 Q0 b 3 0.5 semsearch-dense",
    ]


@pytest.mark.parametrize(("run", "tag"), [
    ({"q 1": {"a": 1.0}}, "t"), ({"q": {"a\tb": 1.0}}, "t"), ({"q": {"a": 1.0}}, "my tag"),
    ({"q": {"a": 1.0}}, ""), ({"q": {"a": float("nan")}}, "t"),
])
def test_write_trec_run_rejects(tmp_path: Path, run: dict, tag: str) -> None:
    with pytest.raises(ValueError):
        write_trec_run(tmp_path / "x.trec", run, tag)


def test_plot_recall_writes_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    curves = {"dense": {1: 0.4, 10: 0.8, 100: 0.95}, "hybrid": {1: 0.5, 10: 0.85, 100: 0.97}}
    path = plot_recall(curves, tmp_path / "plots" / "recall.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_recall_without_matplotlib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PlotUnavailable, match="pip install matplotlib"):
        plot_recall({"dense": {1: 0.5}}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
