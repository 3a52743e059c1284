"""`tune --base` fits the model's max_seq_length to the collection: what `semsearch index` cuts passages to."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from embed.encode.models import load_sentence_transformer
from embed.train.base import fitting_length
from embed.train.pairs import TrainingPair
from index.cli.app import app
from tests.modelkit import long_text
from tests.test_tune import write_jsonl

runner = CliRunner()


@pytest.mark.parametrize("long_share, words, expected", [
    (0.0, 0, 64),  # nothing longer than 64 tokens: the model's own
    (0.2, 90, 64),  # a fifth longer: not enough to pay for longer passages
    (0.5, 90, 128),  # 92 tokens at the 90th percentile -> 128
    (1.0, 500, 128),  # longer than the position limit: capped there
])
def test_the_limit_rises_only_when_many_passages_are_cut(tiny_bert_dir, long_share, words, expected):
    model = load_sentence_transformer(str(tiny_bert_dir), device="cpu")
    assert (model.max_seq_length, model[0].auto_model.config.max_position_embeddings) == (64, 128)
    passages = [long_text(words) if i < long_share * 100 else long_text(20) for i in range(100)]
    assert fitting_length(model, passages) == expected


def test_tune_base_saves_the_fitted_length_and_index_cuts_to_it(tmp_path, tiny_bert_dir):
    pairs = [TrainingPair(f"question {i} about the river", long_text(70 + i)) for i in range(40)]
    data = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    out = tmp_path / "tuned"
    args = ["tune", str(data), "--base", str(tiny_bert_dir), "--out", str(out), "--epochs", "1", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["max_tokens"] == [64, 128]
    assert "128, raised from the model's 64" in (out / "README.md").read_text()
    assert load_sentence_transformer(str(out), device="cpu").max_seq_length == 128
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "river.txt").write_text(long_text(100) + "\n")
    index_dir = str(tmp_path / "idx")
    indexed = runner.invoke(app, ["index", str(tmp_path / "docs"), "--index", index_dir, "--model", str(out)])
    assert indexed.exit_code == 0, indexed.output
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["model"]["max_tokens"] == 128 and manifest["counts"]["passages"] == 1  # 100 words, one passage

    asked = runner.invoke(app, [*args[:-1], "--max-tokens", "100", "--json"])
    assert asked.exit_code == 0 and json.loads(asked.stdout)["max_tokens"] == [64, 100]
    too_long = runner.invoke(app, [*args[:-1], "--max-tokens", "300"])
    assert too_long.exit_code == 1 and "is more than" in too_long.output and "(128)" in too_long.output
    assert "Traceback" not in too_long.output
