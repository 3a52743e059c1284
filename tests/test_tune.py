"""`semsearch tune`: StaticEmbedding training on (query, passage) pairs, its data readers and the command."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embed.train.fit import FitPlan, fit
from embed.train.heldout import HeldoutScore
from embed.train.static import TrainingPair, TuneError, TuneSettings, no_duplicate_batches, tune_static
from embed.train.wordpiece import SPECIAL_TOKENS, TokenizerUnavailable, load_tokenizer, train_wordpiece
from index.cli.app import app
from index.evaluate.datasets import DatasetError
from index.evaluate.tune_data import load_training_pairs
from tests.corpus import write_corpus
from tests.modelkit import MINILM_DIR, long_text

runner = CliRunner()
FAST = TuneSettings(dim=32, epochs=6, batch_size=64, lr=0.2, heldout_fraction=0.2)


def concept_pairs(n_concepts: int = 30, seed: int = 0) -> list[TrainingPair]:
    """Queries and passages that share no word: query word qwI means passage word pwI.

    A passage holds two concepts; its query names them with the query words. The untrained model (bag
    of random token vectors) cannot match them; a trained one learns the mapping, also for held-out
    combinations of concepts it saw in other pairs.
    """
    rng = random.Random(seed)
    fillers = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]
    pairs = []
    for a in range(n_concepts):
        for b in range(a + 1, n_concepts):
            if rng.random() < 0.5:
                continue
            query = f"find qw{a} with qw{b}"
            passage = f"{rng.choice(fillers)} pw{a} {rng.choice(fillers)} pw{b} {rng.choice(fillers)}"
            pairs.append(TrainingPair(query, passage))
    return pairs


def write_jsonl(path: Path, pairs: list[TrainingPair]) -> Path:
    path.write_text("".join(json.dumps({"query": p.query, "passage": p.passage}) + "\n" for p in pairs))
    return path


def write_beir(root: Path, *, train: bool = True, corpus: list[dict] | None = None, qrels: str | None = None) -> Path:
    """A BEIR directory of concept pairs: queries 0-39 judged in train, 40-59 in test."""
    pairs = concept_pairs(20)[:60]
    (root / "qrels").mkdir(parents=True)
    docs = corpus or [{"_id": f"d{i}", "title": "", "text": p.passage} for i, p in enumerate(pairs)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": str(i), "text": p.query} for i, p in enumerate(pairs)]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    header = "query-id\tcorpus-id\tscore\r\n"
    rows = lambda ids: "".join(f"{i}\td{i}\t1\r\n" for i in ids)  # noqa: E731
    if train:
        (root / "qrels" / "train.tsv").write_text(header + (qrels if qrels is not None else rows(range(40))))
    (root / "qrels" / "test.tsv").write_text(header + rows(range(40, 60)))
    return root


@pytest.fixture(scope="module")
def concept_tokenizer():
    pairs = concept_pairs()
    return train_wordpiece([t for p in pairs for t in (p.query, p.passage)], min_frequency=1)


def test_a_trained_vocabulary_is_the_same_every_time():
    """The tokenizers trainer alone numbers "##x" tokens in hash-map order, which breaks ties between merges
    differently from run to run (huggingface/tokenizers#1794); this corpus is all ties."""
    texts = ["Wel come to the Tok en izers libr ary.", "Welcome to the Tokenizers library.", "zy yz xw wx"] * 3
    vocabularies = {json.dumps(sorted(train_wordpiece(texts, min_frequency=1).get_vocab().items())) for _ in range(30)}
    assert len(vocabularies) == 1
    tokenizer = train_wordpiece(texts, min_frequency=1)
    # the "##x" declared for training are ordinary vocabulary entries, not special tokens
    assert [t.content for t in tokenizer.get_added_tokens_decoder().values()] == list(SPECIAL_TOKENS)
    assert "##e" in tokenizer.get_vocab()


# --- training --------------------------------------------------------------------------------------------


def test_training_learns_and_same_seed_gives_same_weights(concept_tokenizer):
    import torch

    pairs = concept_pairs()
    model, report = tune_static(pairs, concept_tokenizer, FAST)
    assert report.heldout_queries >= 30 and report.train_pairs + report.heldout_queries == len(pairs)
    assert report.recall_before < 0.5 < report.recall_after - 0.3, (report.recall_before, report.recall_after)
    assert report.final_loss < report.epoch_losses[0]
    again, report2 = tune_static(pairs, concept_tokenizer, FAST)
    assert torch.equal(model[0].embedding.weight, again[0].embedding.weight)
    assert (report2.recall_before, report2.recall_after) == (report.recall_before, report.recall_after)
    other, _ = tune_static(pairs, concept_tokenizer, TuneSettings(**{**FAST.__dict__, "seed": 1}))
    assert not torch.equal(model[0].embedding.weight, other[0].embedding.weight)


def test_matryoshka_training_runs(concept_tokenizer):
    settings = TuneSettings(dim=32, epochs=2, batch_size=64, lr=0.2, matryoshka=(16, 8), heldout_fraction=0.2)
    model, report = tune_static(concept_pairs(), concept_tokenizer, settings)
    assert settings.loss_dims() == (32, 16, 8)
    assert model.get_embedding_dimension() == 32 and report.recall_after > report.recall_before


def test_batches_never_repeat_a_text():
    pairs = [TrainingPair(f"q{i % 7}", f"p{i % 5}") for i in range(35)]  # 35 distinct pairs, shared texts
    batches = no_duplicate_batches(pairs, 4, random.Random(0))
    assert sorted(i for batch in batches for i in batch) == list(range(35))
    for batch in batches:
        texts = [t for i in batch for t in (pairs[i].query, pairs[i].passage)]
        assert len(texts) == len(set(texts)) and len(batch) <= 4


@pytest.mark.parametrize(
    "settings, message",
    [
        (TuneSettings(matryoshka=(512,)), "matryoshka dims must lie between 1 and --dim"),
        (TuneSettings(batch_size=1), "batch-size must be at least 2"),
        (TuneSettings(lr=0.0), "lr must be a positive number"),
    ],
)
def test_bad_settings(settings, message, concept_tokenizer):
    with pytest.raises(TuneError, match=message):
        tune_static(concept_pairs(), concept_tokenizer, settings)


def test_too_few_pairs(concept_tokenizer):
    with pytest.raises(TuneError, match="at least 2 training pairs"):
        tune_static([TrainingPair("a", "b")] * 3, concept_tokenizer, FAST)


# --- how long, how fast: the held-out slice, the budget, the rule ------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def scripted_fit(monkeypatch, scores: list[float], plan: FitPlan, step_seconds: float = 1.0):
    """fit() on a one-parameter model: each step adds 1 to it and costs ``step_seconds`` on a fake clock;
    the held-out evaluations return ``scores`` in turn (then the last one again)."""
    import torch

    import embed.train.fit

    clock = FakeClock()
    monkeypatch.setattr(embed.train.fit.time, "perf_counter", clock)
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=plan.lr)
    seen: list[float] = []

    def step(batch) -> float:
        clock.now += step_seconds
        with torch.no_grad():
            model.weight += 1
        return 1.0

    def evaluate() -> HeldoutScore:
        seen.append(float(model.weight.detach()))
        score = scores[min(len(seen) - 1, len(scores) - 1)]
        return HeldoutScore(recall=score, mrr=score, ndcg=score)

    result = fit(model, optimizer, plan, lambda epoch: [0, 1], step, evaluate, started=clock.now)
    return result, float(model.weight.detach()), seen


def test_early_stopping_keeps_the_best_checkpoint_and_halves_the_lr(monkeypatch):
    plan = FitPlan(max_epochs=50, time_budget_s=1e6, lr=0.4, patience=3, evals_per_epoch=2)
    result, weight, seen = scripted_fit(monkeypatch, [0.1, 0.3, 0.5, 0.4, 0.45, 0.2, 0.9], plan)
    assert result.stopped == "early stopping" and result.steps == 5
    assert weight == 2.0 and result.best.step == 2 and result.best.mrr == 0.5  # the weights scored 0.5
    assert [p.lr for p in result.curve] == [0.4, 0.4, 0.4, 0.2, 0.1, 0.05]
    assert seen == [0, 1, 2, 3, 4, 5]  # scored before training and after every step


def test_time_budget_is_honoured_whatever_the_data(monkeypatch):
    plan = FitPlan(max_epochs=1000, time_budget_s=10.0, lr=0.1, patience=3, evals_per_epoch=1)
    result, weight, _ = scripted_fit(monkeypatch, [i / 1000 for i in range(1000)], plan, step_seconds=1.5)
    assert result.stopped == "time budget" and result.seconds <= 10.0
    assert result.steps == 6 and weight == 6.0  # 6 steps x 1.5 s; a 7th would end past the budget


def test_the_lr_warms_up_then_decays_to_zero_at_the_first_end(monkeypatch):
    import embed.train.fit as fitmod

    clock = FakeClock()
    monkeypatch.setattr(fitmod.time, "perf_counter", clock)
    timer = fitmod._Clock(clock.now, 100.0)
    by_steps = FitPlan(max_epochs=2, time_budget_s=100.0, lr=1.0, warmup_steps=4, decay=True)
    assert [fitmod.schedule(by_steps, done, 10, timer) for done in (0, 1, 3)] == [0.25, 0.5, 1.0]
    assert fitmod.schedule(by_steps, 10, 10, timer) == pytest.approx(0.5)  # half of 2 epochs x 10 steps
    clock.now += 75.0  # three quarters of the budget gone: time ends first
    assert fitmod.schedule(by_steps, 10, 10, timer) == pytest.approx(0.25)
    timer.eval_s = 25.0  # the final evaluation's time is kept free: no room left for learning
    assert fitmod.schedule(by_steps, 10, 10, timer) == 0.0
    assert fitmod.schedule(FitPlan(max_epochs=2, time_budget_s=100.0, lr=1.0), 10, 10, timer) == 1.0


def test_without_a_heldout_slice_the_last_weights_are_kept(monkeypatch):
    import torch

    model = torch.nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    plan = FitPlan(max_epochs=3, time_budget_s=1e6, lr=0.1)
    result = fit(model, optimizer, plan, lambda epoch: [0, 1], lambda batch: 0.0, lambda: None, started=0.0)
    assert result.stopped == "max epochs" and result.steps == 6 and result.best is None and not result.curve


@pytest.mark.parametrize(
    "pairs, kind, batch, lr",
    [
        (40, "static", 64, 0.1),
        (875, "static", 256, 0.1),  # SciFact's train split
        (2_500, "static", 512, 0.1 * (1000 / 2_500) ** 0.5),
        (10_000, "static", 1024, 0.1 * (1000 / 10_000) ** 0.5),
        (100_000, "static", 1024, 0.01),
        (875, "base", 32, 2e-4),
        (2_000, "base", 64, 2e-4 * (1000 / 2_000) ** 0.5),
        (400, "base", 16, 2e-4),
        (100, "base", 16, 2e-4),
        (40_000, "base", 64, 2e-4 * (1000 / 40_000) ** 0.5),
    ],
)
def test_batch_and_lr_scale_with_the_data(pairs, kind, batch, lr):
    scaled = TuneSettings().scaled(pairs, kind)
    assert (scaled.batch_size, scaled.epochs) == (batch, 40 if kind == "static" else 10)
    assert scaled.lr == pytest.approx(lr)
    assert TuneSettings(batch_size=8, lr=0.5, epochs=2).scaled(pairs, kind) == TuneSettings(batch_size=8, lr=0.5, epochs=2)


def test_static_training_stops_early_and_reports_its_curve(concept_tokenizer):
    settings = TuneSettings(dim=32, lr=0.2, batch_size=64, heldout_fraction=0.2, patience=2)
    model, report = tune_static(concept_pairs(), concept_tokenizer, settings)
    assert report.stopped == "early stopping" and report.epochs < 40
    assert report.curve[0].step == 0 and report.recall_before == report.curve[0].recall
    best = max(report.curve, key=lambda p: (p.ndcg, p.mrr, p.recall))
    assert report.best_step == best.step and report.recall_after == best.recall > report.recall_before


def test_batches_never_repeat_a_text_counting_hard_negatives():
    pairs = [TrainingPair(f"q{i}", f"p{i}", f"p{(i + 1) % 12}") for i in range(12)]  # each negative is a passage
    for seed in range(5):
        batches = no_duplicate_batches(pairs, 4, random.Random(seed))
        assert sorted(i for batch in batches for i in batch) == list(range(12))
        for batch in batches:
            texts = [t for i in batch for t in (pairs[i].query, pairs[i].passage, pairs[i].negative)]
            assert len(texts) == len(set(texts))


def test_bm25_negatives_are_the_best_ranked_passage_that_is_not_the_querys_own():
    from index.evaluate.negatives import mine_bm25_negatives

    pairs = [
        TrainingPair("vitamin d and bone fractures", "Vitamin D supplements lowered hip fractures in older women."),
        TrainingPair("vitamin d and bone fractures", "Bone density rose with vitamin D."),
        TrainingPair("river delta sediment", "Deltas form where a river drops its sediment."),
        TrainingPair("zzz qqq", "Nothing shares these words."),
    ]
    corpus = ["Vitamin D and fractures: no effect on bone fractures in men given vitamin D.", "Cats sleep a lot."]
    mined = mine_bm25_negatives(pairs, corpus)
    assert [(p.query, p.passage) for p in mined] == [(p.query, p.passage) for p in pairs]
    assert mined[0].negative == mined[1].negative == corpus[0]  # never one of the query's own two passages
    assert mined[2].negative is None or mined[2].negative not in {pairs[2].passage}
    assert mined[3].negative is None


def test_base_fine_tuning_with_hard_negatives(monkeypatch, tiny_bert_dir):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from embed.train.base import tune_base

    columns = []
    forward = MultipleNegativesRankingLoss.forward

    def counting(self, features, labels):
        columns.append(len(features))
        return forward(self, features, labels)

    monkeypatch.setattr(MultipleNegativesRankingLoss, "forward", counting)
    plain = concept_pairs()
    hard = [TrainingPair(p.query, p.passage, f"filler {i} " + p.passage[::-1]) for i, p in enumerate(plain)]
    settings = TuneSettings(epochs=1, batch_size=16, lr=1e-3, time_budget=60)
    for pairs, expected in ((hard, 3), (plain, 2)):
        columns.clear()
        _, report = tune_base(pairs, str(tiny_bert_dir), settings)
        assert report.steps >= 1 and set(columns) == {expected}


def test_dropout_is_off_while_fine_tuning_unless_asked(tiny_bert_dir):
    import torch

    from embed.encode.models import load_sentence_transformer
    from embed.train.base import switch_off_dropout

    model = load_sentence_transformer(str(tiny_bert_dir), device="cpu")
    rates = lambda: {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}  # noqa: E731
    assert rates() and rates() != {0.0}
    model.train()
    switch_off_dropout(model)
    assert rates() == {0.0}
    features = model.tokenize(["a query about qw1"])
    first, second = (model(dict(features))["sentence_embedding"] for _ in range(2))
    assert torch.equal(first, second)  # in train mode, yet deterministic: nothing dropped


def test_base_fine_tuning_on_a_tiny_model(tmp_path, tiny_bert_dir):
    from sentence_transformers import SentenceTransformer

    data = write_jsonl(tmp_path / "pairs.jsonl", concept_pairs())
    out = tmp_path / "tuned"
    result = runner.invoke(app, [
        "tune", str(data), "--base", str(tiny_bert_dir), "--out", str(out), "--lr", "0.001", "--batch-size", "32",
        "--epochs", "3", "--time-budget", "60", "--json",
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["base"] == str(tiny_bert_dir) and summary["precision"] in ("fp32", "bf16")
    assert summary["recall_after"] > summary["recall_before"] and summary["curve"]
    assert "Fine-tuned" in (out / "README.md").read_text() and "dropout off" in (out / "README.md").read_text()
    config = json.loads((out / "config.json").read_text())  # training without dropout leaves the config as it was
    assert config["hidden_dropout_prob"] == json.loads((tiny_bert_dir / "config.json").read_text())["hidden_dropout_prob"]
    tuned, original = SentenceTransformer(str(out), device="cpu"), SentenceTransformer(str(tiny_bert_dir), device="cpu")
    assert tuned.get_embedding_dimension() == original.get_embedding_dimension()
    assert (tuned.encode(["find qw1 with qw2"]) != original.encode(["find qw1 with qw2"])).any()
    write_corpus(tmp_path / "docs")
    indexed = runner.invoke(app, ["index", str(tmp_path / "docs"), "--index", str(tmp_path / "idx"), "--model", str(out)])
    assert indexed.exit_code == 0, indexed.output


@pytest.mark.parametrize(
    "extra, code, message",
    [
        (["--base", "m", "--dim", "32"], 2, "--dim only apply to a static model"),
        (["--base", "m", "--tokenizer", "t.json", "--matryoshka", "8"], 2, "--tokenizer, --matryoshka only apply"),
        (["--time-budget", "0"], 1, "time budget must be a positive number"),
        (["--base", "{missing}"], 1, "cannot load embedding model"),
        (["--hard-negatives"], 2, "--hard-negatives only applies with --base"),
        (["--max-tokens", "64"], 2, "--max-tokens only applies with --base"),
        (["--max-tokens", "4"], 2, "greater than or equal to 8"),
    ],
)
def test_bad_tune_options(tmp_path, extra, code, message):
    data = write_jsonl(tmp_path / "pairs.jsonl", concept_pairs()[:20])
    extra = [arg.replace("{missing}", str(tmp_path / "no-model")) for arg in extra]
    result = runner.invoke(app, ["tune", str(data), "--out", str(tmp_path / "m"), *extra])
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not (tmp_path / "m").exists()


# --- tokenizers -------------------------------------------------------------------------------------------


@pytest.mark.skipif(not (MINILM_DIR / "tokenizer.json").is_file(), reason="MiniLM tokenizer not present")
def test_minilm_tokenizer_loads_uncapped():
    for spec in (MINILM_DIR / "tokenizer.json", MINILM_DIR):
        tokenizer = load_tokenizer(str(spec))
        assert tokenizer.truncation is None and tokenizer.padding is None
        assert len(tokenizer.encode(long_text(300), add_special_tokens=False).ids) == 300


def test_bad_tokenizer_specs(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(TokenizerUnavailable, match="not a tokenizers tokenizer.json"):
        load_tokenizer(str(tmp_path / "broken.json"))
    with pytest.raises(TokenizerUnavailable, match="no such file or directory"):
        load_tokenizer(str(tmp_path / "missing" / "tokenizer.json"))


# --- the command ------------------------------------------------------------------------------------------


def test_cli_tune_saves_a_model_that_loads_and_indexes(tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    monkeypatch.delenv("SEMSEARCH_MODEL", raising=False)
    data = write_jsonl(tmp_path / "pairs.jsonl", concept_pairs())
    out = tmp_path / "model"
    result = runner.invoke(
        app, ["tune", str(data), "--out", str(out), "--dim", "32", "--epochs", "2", "--batch-size", "64", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"] == str(out) and summary["sources"][0]["pairs"] == len(concept_pairs())
    card = (out / "README.md").read_text()
    assert "held-out nDCG@10" in card and "pairs.jsonl" in card and "WordPiece trained" in card

    model = SentenceTransformer(str(out), device="cpu")
    assert model.get_embedding_dimension() == 32 and model[0].tokenizer.truncation is None
    short, longer = model.encode([long_text(200), long_text(201)])
    assert (short != longer).any()  # nothing was cut at 128 tokens

    write_corpus(tmp_path / "docs")
    index_dir = str(tmp_path / "idx")
    indexed = runner.invoke(app, ["index", str(tmp_path / "docs"), "--index", index_dir, "--model", str(out)])
    assert indexed.exit_code == 0, indexed.output
    asked = runner.invoke(app, ["ask", "rover on mars", "--index", index_dir, "--json"])
    assert asked.exit_code == 0 and json.loads(asked.stdout)["hits"]


def test_cli_tune_beir_and_eval(tmp_path):
    pytest.importorskip("index.evaluate.bench")
    beir = write_beir(tmp_path / "beir")
    out = tmp_path / "model"
    args = ["tune", str(beir), "--out", str(out), "--dim", "16", "--epochs", "1", "--batch-size", "8"]
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = runner.invoke(app, [*args, "--eval", str(beir), "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["sources"] == [{"path": str(beir), "kind": "beir", "split": "train", "pairs": 40}]
    assert {run["run"].split(": ")[-1].split()[0] for run in summary["bench"]} == {"dense", "hybrid", "lexical"}
    assert "nDCG@10" in (out / "README.md").read_text()


def test_training_on_the_bench_split_needs_naming_it(tmp_path):
    beir = write_beir(tmp_path / "beir", train=False)
    with pytest.raises(DatasetError, match="will not train on 'test'.*--split test"):
        load_training_pairs([beir])
    data = load_training_pairs([beir], split="test")
    assert len(data.pairs) == 20 and "semsearch bench" in data.warnings[0]
    result = runner.invoke(
        app, ["tune", str(beir), "--split", "test", "--out", str(tmp_path / "m"), "--dim", "8", "--epochs", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "warning" in result.stderr and "no longer a fair test" in result.stderr


def test_several_sources_combine(tmp_path):
    beir = write_beir(tmp_path / "beir")
    extra = write_jsonl(tmp_path / "extra.jsonl", concept_pairs()[:5])
    data = load_training_pairs([beir, extra])
    assert [(s.kind, len(s.pairs)) for s in data.sources] == [("beir", 40), ("jsonl", 5)]
    assert len(data.pairs) == 45


def bad_jsonl(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda t: bad_jsonl(t, ""), "pairs.jsonl: no training pairs"),
        (
            lambda t: bad_jsonl(t, '{"query": "a", "passage": "b"}\n{"query": "c"}\n'),
            "pairs.jsonl line 2: 'passage' is missing",
        ),
        (lambda t: bad_jsonl(t, '{"query": "  ", "passage": "b"}\n'), "pairs.jsonl line 1: empty 'query'"),
        (lambda t: bad_jsonl(t, '{"query": "a", "passage": "b"\n'), "pairs.jsonl line 1: malformed JSON"),
        (lambda t: bad_jsonl(t, '["a", "b"]\n'), "pairs.jsonl line 1: expected a JSON object"),
        (lambda t: write_beir(t / "beir", qrels="0\tnope\t1\r\n"), "train.tsv line 2: unknown corpus id 'nope'"),
        (lambda t: write_beir(t / "beir", qrels="99\td1\t1\r\n"), "train.tsv line 2: unknown query id '99'"),
        (lambda t: write_beir(t / "beir", qrels="0\td0\t0\r\n"), "train.tsv: no queries left"),
        (
            lambda t: write_beir(t / "beir", corpus=[{"_id": f"d{i}", "text": "x" * (i != 3)} for i in range(60)]),
            "corpus.jsonl: empty text for document 'd3'",
        ),
        (lambda t: (t / "squad.json").write_text('{"data": []}') and t / "squad.json", "squad.json: no questions"),
        (lambda t: t / "missing.jsonl", "missing.jsonl: no such file or directory"),
        (lambda t: (t / "notes.txt").write_text("hello") and t / "notes.txt", "notes.txt: not training data"),
    ],
)
def test_bad_training_data_is_one_clear_line(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(DatasetError) as caught:
        load_training_pairs([path])
    assert message in str(caught.value)
    result = runner.invoke(app, ["tune", str(path), "--out", str(tmp_path / "model")])
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.output
    assert not (tmp_path / "model").exists()


def test_out_dir_that_is_not_a_model_is_refused(tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", concept_pairs()[:10])
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["tune", str(data), "--out", str(tmp_path / "busy")])
    assert result.exit_code == 1 and "holds no model" in result.stderr
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def test_hub_id_tokenizer_follows_the_offline_rules(tmp_path, monkeypatch, no_bundled_models, tiny_bert_dir):
    import embed.encode.models
    from embed.errors import ModelUnavailable

    for var in ("SENTENCE_TRANSFORMERS_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable, match="not in the local Hugging Face cache and HF_HUB_OFFLINE is set"):
        load_tokenizer("someone/not-cached-anywhere")
    real = embed.encode.models.load_sentence_transformer
    loaded = []
    def fake_load(spec, device=None):
        loaded.append(spec)
        return real(str(tiny_bert_dir))

    monkeypatch.setattr(embed.encode.models, "load_sentence_transformer", fake_load)
    tokenizer = load_tokenizer("someone/cached-model")
    assert loaded == ["someone/cached-model"] and tokenizer.truncation is None
    assert tokenizer.get_vocab_size() == load_tokenizer(str(tiny_bert_dir)).get_vocab_size()


def test_heldout_ndcg_equals_a_hand_computed_value():
    import math

    import numpy as np

    from embed.train.heldout import Heldout

    held = [TrainingPair("q1", "p1"), TrainingPair("q2", "p2"), TrainingPair("q2", "p3")]
    names = ["p1", "p2", "p3", "x1", "x2"]
    heldout = Heldout(held, names, most_candidates=10, seed=0)
    assert heldout.candidates == names
    rows = {"q1": [0.8, 0, 0, 0.9, 0], "q2": [0, 0.9, 0.5, 0, 0.7]}  # q1: x1, p1, ...  q2: p2, x2, p3, ...
    score = heldout.score(lambda qs: np.array([rows[q] for q in qs]), lambda ps: np.eye(5)[[names.index(p) for p in ps]])
    q1 = (1 / math.log2(3)) / 1.0
    q2 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert score.ndcg == pytest.approx((q1 + q2) / 2)
    assert score.mrr == pytest.approx((1 / 2 + 1) / 2) and score.recall == pytest.approx(1.0)
