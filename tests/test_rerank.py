"""Opt-in reranking: a tiny seeded cross-encoder built here, the offline-safe loader, hit re-ordering, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embed.encode.rerank import DEFAULT_RERANKER, RerankerUnavailable, load_reranker
from index.cli.app import app
from index.cli.quick import parse
from index.search.rerank import MAX_TOP, rerank_hits
from index.search.searcher import Hit
from tests.corpus import write_corpus
from tests.modelkit import long_text, write_tokenizer

runner = CliRunner()


def build_tiny_cross_encoder(target: Path, *, max_positions: int = 64, seed: int = 0) -> Path:
    """A seeded BertForSequenceClassification (1 label, 2 layers) with the MiniLM tokenizer: a real CrossEncoder."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from tests.modelkit import _vocab_size

    write_tokenizer(target)
    config = BertConfig(
        vocab_size=_vocab_size(target), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=max_positions, num_labels=1,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    with torch.no_grad():  # a wider spread of scores than the default init gives, so no two passages tie
        model.classifier.weight.mul_(50.0)
    model.save_pretrained(str(target))
    return target


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "tiny-ce")


@pytest.fixture(scope="module")
def reranker(cross_encoder_dir):
    return load_reranker(str(cross_encoder_dir))


class TableScorer:
    """Scores from a table (text -> score); records what it was asked."""

    def __init__(self, table: dict[str, float]) -> None:
        self.table, self.calls = table, []

    def score(self, query, passages):
        self.calls.append((query, list(passages)))
        return [self.table[p] for p in passages]


def hits_of(texts: list[str]) -> list[Hit]:
    return [Hit(i, f"doc#{i}", 1.0 / i, "doc", "Doc", t, 0, len(t)) for i, t in enumerate(texts, start=1)]


# --- re-ordering ------------------------------------------------------------------------------------------


def test_order_follows_the_scores_and_only_the_top_n_are_scored():
    hits = hits_of(["a", "b", "c", "d", "e"])
    scorer = TableScorer({"a": 0.1, "b": 0.9, "c": 0.5, "d": 5.0, "e": 9.0})
    reranked = rerank_hits(scorer, "q", hits, top=3)
    assert scorer.calls == [("q", ["a", "b", "c"])]  # d and e are never scored: the top-N bound
    assert [h.text for h in reranked] == ["b", "c", "a", "d", "e"]
    assert [h.rank for h in reranked] == [1, 2, 3, 4, 5]
    assert [h.score for h in reranked[:3]] == [0.9, 0.5, 0.1] and reranked[3].score == hits[3].score


def test_ties_keep_the_search_order():
    reranked = rerank_hits(TableScorer({"a": 1.0, "b": 2.0, "c": 1.0}), "q", hits_of(["a", "b", "c"]), top=30)
    assert [h.text for h in reranked] == ["b", "a", "c"]


@pytest.mark.parametrize("top", [0, MAX_TOP + 1])
def test_top_is_bounded(top):
    from index.errors import BadQuery

    with pytest.raises(BadQuery, match="--rerank-top must lie between 1 and"):
        rerank_hits(TableScorer({}), "q", hits_of(["a"]), top=top)


# --- the cross-encoder ------------------------------------------------------------------------------------


def test_tiny_cross_encoder_reorders_as_its_scores_say(reranker):
    texts = [long_text(n) + f" number {n}" for n in (5, 9, 14, 20, 27, 33)]
    oracle = reranker.score("where does the river go", texts)
    assert len(set(oracle)) == len(oracle)  # distinct, so the order is defined
    reranked = rerank_hits(reranker, "where does the river go", hits_of(texts), top=30)
    assert [h.text for h in reranked] == [t for _, t in sorted(zip(oracle, texts), key=lambda p: -p[0])]
    assert [h.text for h in reranked] != texts  # the scores did change the order


def test_passages_are_cut_to_the_model_limit(reranker):
    assert reranker.max_tokens == 64
    query, passage = "where does the river go", long_text(300)
    cut = reranker.cut(query, passage)
    query_tokens = len(reranker.tokenizer(query, add_special_tokens=False)["input_ids"])
    cut_tokens = len(reranker.tokenizer(cut, add_special_tokens=False)["input_ids"])
    assert passage.startswith(cut) and query_tokens + cut_tokens + 3 == 64
    assert reranker.cut(query, "a short passage") == "a short passage"
    # the long passage is scored exactly as its cut text: nothing past the limit reached the model
    assert reranker.score(query, [passage]) == pytest.approx(reranker.score(query, [cut]))
    long_query = long_text(200)
    assert len(reranker.tokenizer(reranker.cut_to(long_query, 32), add_special_tokens=False)["input_ids"]) == 32


def test_missing_default_reranker_offline_is_a_clear_error(tmp_path, monkeypatch):
    for var in ("SENTENCE_TRANSFORMERS_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RerankerUnavailable) as caught:
        load_reranker()
    message = str(caught.value)
    assert DEFAULT_RERANKER in message and "HF_HUB_OFFLINE is set" in message
    assert "--rerank-model /path/to/a/cross-encoder/dir" in message and "HF_HOME" in message


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda t: t / "missing", "no such directory"),
        (lambda t: (t / "file.bin").write_bytes(b"x") and t / "file.bin", "not a directory"),
        (lambda t: (t / "empty").mkdir() or t / "empty", "no config.json"),
    ],
)
def test_bad_reranker_paths(tmp_path, make, reason):
    with pytest.raises(RerankerUnavailable, match=reason):
        load_reranker(str(make(tmp_path)))


# --- the command line -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def static_index(tmp_path_factory, static_model_dir) -> Path:
    root = tmp_path_factory.mktemp("rerank-index")
    write_corpus(root / "docs")
    result = runner.invoke(app, ["index", str(root / "docs"), "--index", str(root / "idx"), "--model",
                                 str(static_model_dir)])
    assert result.exit_code == 0, result.output
    return root / "idx"


def test_ask_and_related_rerank(static_index, cross_encoder_dir, reranker):
    index = str(static_index)
    plain = runner.invoke(app, ["ask", "rover on mars", "--index", index, "-k", "30", "--json"])
    assert plain.exit_code == 0, plain.output
    base = json.loads(plain.stdout)["hits"][:4]
    result = runner.invoke(app, ["ask", "rover on mars", "--index", index, "-k", "2", "--json",
                                 "--rerank-model", str(cross_encoder_dir), "--rerank-top", "4"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["mode"] == "hybrid+rerank" and len(payload["hits"]) == 2
    scores = reranker.score("rover on mars", [h["text"] for h in base])
    expected = [h["id"] for _, h in sorted(zip(scores, base), key=lambda p: -p[0])][:2]
    assert [h["id"] for h in payload["hits"]] == expected

    anchor = base[0]["id"]
    related = runner.invoke(app, ["related", anchor, "--index", index, "--json", "--rerank-model",
                                  str(cross_encoder_dir)])
    assert related.exit_code == 0, related.output
    assert json.loads(related.stdout)["mode"] == "dense+rerank"


def test_rerank_errors_are_one_line(static_index, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for args, message in [
        (["--rerank"], f"cannot load reranking model '{DEFAULT_RERANKER}'"),
        (["--rerank-model", str(tmp_path / "nope")], "no such directory"),
    ]:
        result = runner.invoke(app, ["ask", "rover", "--index", str(static_index), *args])
        assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output
    bad_top = runner.invoke(app, ["ask", "rover", "--index", str(static_index), "--rerank", "--rerank-top", "0"])
    assert bad_top.exit_code == 2


def test_rerank_lines_go_to_typer_not_the_quick_path():
    # reranking loads torch anyway; the quick parser leaves these lines to typer, which knows the options
    for argv in (["ask", "q", "--rerank"], ["related", "a#1", "--rerank-model", "m"], ["ask", "q", "--rerank-top", "5"]):
        assert parse(argv) is None


def test_bench_prints_a_rerank_row_with_its_latency(tmp_path, static_model_dir, cross_encoder_dir, reranker):
    from tests.test_tune import write_beir

    beir = write_beir(tmp_path / "beir")
    args = ["bench", str(beir), "--model", str(static_model_dir), "--cache-dir", str(tmp_path / "cache")]
    result = runner.invoke(app, [*args, "--rerank-model", str(cross_encoder_dir), "--rerank-top", "5", "--json"])
    assert result.exit_code == 0, result.output
    rows = {(r["mode"], r.get("fusion")): r for r in json.loads(result.stdout)["results"]}
    assert set(rows) == {("lexical", None), ("dense", None), ("hybrid", "rrf:10"), ("hybrid", "rrf:10 +rerank")}
    reranked, hybrid = rows[("hybrid", "rrf:10 +rerank")], rows[("hybrid", "rrf:10")]
    assert reranked["latency_ms"]["p50"] > 0 and reranked["metrics"]["ndcg@10"] != hybrid["metrics"]["ndcg@10"]
    assert reranked["metrics"]["recall@100"] == hybrid["metrics"]["recall@100"]  # only the order of the top 5 moved
    table = runner.invoke(app, [*args, "--rerank-model", str(cross_encoder_dir)])
    assert table.exit_code == 0 and "hybrid rrf:10 +rerank" in table.stdout
    missing = runner.invoke(app, [*args, "--rerank-model", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "cannot load reranking model" in missing.stderr
