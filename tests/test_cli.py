"""The `semsearch` command through typer's CliRunner: exit codes, text and JSON output."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from index.cli.app import app
from tests.corpus import write_corpus

runner = CliRunner()


@pytest.fixture
def indexed(tmp_path, monkeypatch, tiny_bert_dir):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEMSEARCH_MODEL", raising=False)
    monkeypatch.setenv("SEMSEARCH_INDEX", str(tmp_path / "idx"))
    write_corpus(tmp_path / "docs")
    result = runner.invoke(app, ["index", "docs", "--model", str(tiny_bert_dir)])
    assert result.exit_code == 0, result.output
    return tmp_path


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_index_prints_counts(indexed):
    result = invoke("index", "docs", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["encoded"] == 0 and report["unchanged"] == report["passages"] > 0
    text = invoke("index", "docs")
    assert "unchanged" in text.stdout and "added 0" in text.stdout


def test_ask_json_shape(indexed):
    result = invoke("ask", "Who landed on the moon?", "-k", "3", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["query"] == "Who landed on the moon?" and payload["mode"] == "hybrid"
    assert len(payload["hits"]) == 3
    assert set(payload["hits"][0]) == {"rank", "id", "score", "source", "title", "text"}
    assert [h["rank"] for h in payload["hits"]] == [1, 2, 3]


@pytest.mark.parametrize("mode", ["auto", "hybrid", "dense", "lexical"])
def test_ask_text_output(indexed, mode):
    result = invoke("ask", "sourdough bread", "--mode", mode)
    assert result.exit_code == 0, result.output
    assert "1." in result.stdout and "#" in result.stdout


def test_lexical_finds_the_right_article(indexed):
    payload = json.loads(invoke("ask", "wild yeast starter", "--mode", "lexical", "--json").stdout)
    assert payload["hits"][0]["source"] == "docs/food/bread.txt"
    assert payload["hits"][0]["title"] == "Baking Sourdough at Home"


def test_related_json(indexed):
    result = invoke("related", "docs/space/moon.txt#0", "--other-articles", "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert hits and all(h["source"] != "docs/space/moon.txt" for h in hits)
    assert invoke("related", "--text", "lentil soup", "-k", "2").exit_code == 0


def test_info(indexed, tiny_bert_dir):
    payload = json.loads(invoke("info", "--json").stdout)
    assert payload["model"] == str(tiny_bert_dir.resolve())
    assert payload["documents"] == 4 and payload["vectors_present"] and payload["lexical_present"]
    assert payload["query_encoder"]["kind"] == "bert" and payload["vector_index"] == "IDMap2,Flat"
    text = invoke("info").stdout
    assert "passages" in text and "size on disk" in text
    assert "IDMap2,Flat (exact)" in text and "numpy BERT, no torch" in text


@pytest.mark.parametrize(
    "args, needle",
    [
        (["ask", ""], "empty"),
        (["ask", "moon", "--mode", "magic"], "unknown mode"),
        (["ask", "moon", "--fusion", "rrf:x"], "bad fusion"),
        (["related", "docs/space/moon.txt#99"], "docs/space/moon.txt#0"),
        (["index", "no/such/dir"], "no such file"),
        (["ask", "moon", "--index", "elsewhere"], "semsearch index"),
        (["info", "--index", "elsewhere"], "no index"),
    ],
)
def test_errors_are_one_line_exit_1(indexed, args, needle):
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert needle in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args", [["ask"], ["ask", "q", "-k", "0"], ["related"], ["related", "x#1", "--text", "y"], ["bogus"], ["index"]]
)
def test_usage_errors_exit_2(indexed, args):
    assert invoke(*args).exit_code == 2


def test_model_mismatch_message_names_both(indexed, static_model_dir, tiny_bert_dir):
    result = invoke("index", "docs", "--model", str(static_model_dir))
    assert result.exit_code == 1
    assert str(static_model_dir.resolve()) in result.stderr and str(tiny_bert_dir.resolve()) in result.stderr


def test_offline_index_then_lexical_answers(tmp_path, monkeypatch, no_bundled_models):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    write_corpus(tmp_path / "docs")
    result = invoke("index", "docs", "--index", "idx")
    assert result.exit_code == 0, result.output
    assert "notice:" in result.stderr and "sentence-transformers/all-MiniLM-L6-v2" in result.stderr
    asked = invoke("ask", "moon rocket", "--index", "idx", "--json")
    assert asked.exit_code == 0 and json.loads(asked.stdout)["mode"] == "lexical"
    assert "no vectors" in asked.stderr
    dense = invoke("ask", "moon rocket", "--index", "idx", "--mode", "dense")
    assert dense.exit_code == 1 and "HF_HOME" in dense.stderr


def test_skipped_files_warn(indexed):
    (indexed / "docs" / "junk.txt").write_bytes(b"\x00\xff" * 20)
    result = invoke("index", "docs")
    assert result.exit_code == 0
    assert "warning: skipped docs/junk.txt" in result.stderr
