"""SentenceTransformerEncoder and model loading, against tiny real models built by tests/modelkit.py."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from embed.encode.sentence_transformers import SentenceTransformerEncoder, load_encoder, model_fingerprint, resolve_prompts
from embed.errors import ModelUnavailable
from embed.encode.models import DEFAULT_MODEL, is_local_path, model_id_for, resolve_model_name
from tests import modelkit
from tests.modelkit import build_static, build_tiny_bert, long_text

TEXTS = ["the river carries water", "a library keeps books", "", "numbers in tables " * 20, "fox"]
HUB_ENV = ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "SENTENCE_TRANSFORMERS_HOME", "HF_ENDPOINT",
           "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy")


def normalised(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def check_rows(rows: np.ndarray, n: int, dim: int) -> None:
    assert rows.shape == (n, dim)
    assert rows.dtype == np.float32
    assert rows.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)


# --- loading by path, output shape --------------------------------------------------------------


def test_load_by_path_sets_attributes(tiny_bert_encoder: SentenceTransformerEncoder, tiny_bert_dir: Path):
    enc = tiny_bert_encoder
    assert isinstance(enc, SentenceTransformerEncoder)
    assert enc.model_id == str(tiny_bert_dir.resolve())
    assert enc.counter.name == enc.model_id
    assert (enc.dimension, enc.max_tokens, enc.special_tokens) == (32, 64, 2)
    assert enc.prompts == {"query": "", "document": ""}


def test_relative_path_gives_absolute_model_id(tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tiny_bert_dir.parent)
    enc = load_encoder(f"./{tiny_bert_dir.name}")
    assert enc.model_id == str(tiny_bert_dir.resolve())


def test_encode_shape_dtype_norms(tiny_bert_encoder: SentenceTransformerEncoder):
    docs = tiny_bert_encoder.encode_documents(TEXTS)
    check_rows(docs, len(TEXTS), 32)
    check_rows(tiny_bert_encoder.encode_queries(TEXTS[:2]), 2, 32)
    assert len({row.tobytes() for row in docs}) == len(TEXTS)  # different texts, different vectors


def test_empty_input_gives_zero_rows(tiny_bert_encoder: SentenceTransformerEncoder):
    for rows in (tiny_bert_encoder.encode_documents([]), tiny_bert_encoder.encode_queries([])):
        assert rows.shape == (0, 32) and rows.dtype == np.float32


def test_row_order_and_batching_do_not_change_vectors(tiny_bert_encoder: SentenceTransformerEncoder):
    together = tiny_bert_encoder.encode_documents(TEXTS, batch_size=2)
    one_by_one = np.vstack([tiny_bert_encoder.encode_documents([t], batch_size=1) for t in TEXTS])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    reference = tiny_bert_encoder.model.encode(TEXTS, normalize_embeddings=True, show_progress_bar=False)
    np.testing.assert_allclose(together, reference, atol=1e-5)


def test_progress_called_after_each_batch(tiny_bert_encoder: SentenceTransformerEncoder):
    calls: list[tuple[int, int]] = []
    tiny_bert_encoder.encode_documents(TEXTS, batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]
    calls.clear()
    tiny_bert_encoder.encode_queries(["q"], progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 1)]


def test_bad_batch_size_is_rejected(tiny_bert_encoder: SentenceTransformerEncoder):
    with pytest.raises(ValueError):
        tiny_bert_encoder.encode_documents(["x"], batch_size=0)


def test_loading_and_encoding_print_nothing(tiny_bert_dir: Path, capfd: pytest.CaptureFixture[str]):
    enc = load_encoder(str(tiny_bert_dir))
    enc.encode_documents(TEXTS)
    out, err = capfd.readouterr()
    assert out == ""
    assert "it/s" not in err and "%|" not in err  # no tqdm bars


# --- prompts --------------------------------------------------------------------------------------


def test_prompts_are_applied(prompted_encoder: SentenceTransformerEncoder):
    enc = prompted_encoder
    assert enc.prompts == {"query": "query: ", "document": "passage: "}
    text = ["where do rivers go"]
    query, doc = enc.encode_queries(text), enc.encode_documents(text)
    assert not np.allclose(query, doc, atol=1e-3)
    raw_query = enc.model.encode(["query: " + text[0]], prompt="", show_progress_bar=False)
    raw_doc = enc.model.encode(["passage: " + text[0]], prompt="", show_progress_bar=False)
    np.testing.assert_allclose(query, normalised(raw_query), atol=1e-5)
    np.testing.assert_allclose(doc, normalised(raw_doc), atol=1e-5)


def test_e5_style_passage_prompt_is_used_for_documents(tmp_path: Path):
    # sentence-transformers 6 encode_document() would pick the empty "document" prompt over "passage"
    path = build_tiny_bert(tmp_path / "e5", prompts={"query": "query: ", "passage": "passage: "})
    enc = load_encoder(str(path))
    assert enc.prompts == {"query": "query: ", "document": "passage: "}
    text = "where do rivers go"
    raw = enc.model.encode(["passage: " + text], prompt="", show_progress_bar=False)
    np.testing.assert_allclose(enc.encode_documents([text]), normalised(raw), atol=1e-5)


def test_no_prompts_means_queries_equal_documents(tiny_bert_encoder: SentenceTransformerEncoder):
    text = ["where do rivers go"]
    np.testing.assert_allclose(tiny_bert_encoder.encode_queries(text), tiny_bert_encoder.encode_documents(text))


def test_resolve_prompts_e5_and_bge_styles():
    assert resolve_prompts({"query": "query: ", "document": "", "passage": "passage: "}) == {
        "query": "query: ", "document": "passage: "}
    assert resolve_prompts({"query": "Represent this: ", "document": None}) == {
        "query": "Represent this: ", "document": ""}
    assert resolve_prompts({"corpus": "doc: "})["document"] == "doc: "
    assert resolve_prompts(None) == {"query": "", "document": ""}


# --- token counting and budgets -----------------------------------------------------------------


def test_counter_agrees_with_the_models_own_tokenization(tiny_bert_encoder: SentenceTransformerEncoder):
    enc = tiny_bert_encoder
    texts = ["The river carries water.", "Tokenizers split unfathomable words", "a b c", ""]
    counts = enc.counter.count(texts)
    for text, count in zip(texts, counts):
        fed = enc.model.preprocess([text])["input_ids"]
        assert fed.shape[1] == count + enc.special_tokens
    assert enc.counter.count([]) == []


def test_counter_is_not_truncated(tiny_bert_encoder: SentenceTransformerEncoder, tiny_bert_dir: Path):
    tokenizer_json = json.loads((tiny_bert_dir / "tokenizer.json").read_text())
    assert tokenizer_json["truncation"]["max_length"] == 128  # the hazard is really there
    assert tiny_bert_encoder.counter.count([long_text(300), long_text(129), long_text(7)]) == [300, 129, 7]
    assert tiny_bert_encoder.model.preprocess([long_text(300)])["input_ids"].shape[1] == 64  # the model truncates


def test_passage_budget_is_the_exact_fit(prompted_encoder: SentenceTransformerEncoder):
    enc = prompted_encoder
    prompt_tokens = enc.counter.count(["passage: "])[0]
    assert prompt_tokens >= 2
    assert enc.passage_budget() == enc.max_tokens - enc.special_tokens - prompt_tokens
    budget = enc.passage_budget()
    for n_words, expected in ((budget, enc.max_tokens), (budget - 1, enc.max_tokens - 1)):
        fed = enc.model.preprocess([long_text(n_words)], prompt="passage: ")["input_ids"]
        assert fed.shape[1] == expected  # a budget-sized passage plus prompt and specials just fits


def test_passage_budget_without_prompt(tiny_bert_encoder: SentenceTransformerEncoder):
    assert tiny_bert_encoder.passage_budget() == 64 - 2


def test_static_model_limits(static_encoder: SentenceTransformerEncoder):
    enc = static_encoder
    assert (enc.dimension, enc.max_tokens, enc.special_tokens, enc.passage_budget()) == (32, 256, 0, 256)
    check_rows(enc.encode_documents(TEXTS[:2] + TEXTS[3:]), 4, 32)
    assert enc.counter.count([long_text(300)]) == [300]


def test_static_model_truncation_caps_max_tokens(tmp_path: Path):
    enc = load_encoder(str(build_static(tmp_path / "static50", truncation=50)))
    assert enc.max_tokens == 50 and enc.passage_budget() == 50
    assert enc.counter.count([long_text(80)]) == [80]  # counting still sees every token


def test_fallback_tokenizer_when_minilm_is_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(modelkit, "MINILM_DIR", tmp_path / "absent")
    assert not modelkit.minilm_tokenizer_available()
    enc = load_encoder(str(build_static(tmp_path / "static-trained")))
    assert enc.model.tokenizer.get_vocab_size() < 2000  # the trained one, not MiniLM's 30522
    assert enc.counter.count([long_text(150)]) == [150]
    check_rows(enc.encode_documents(["the river", "the sea"]), 2, 32)


# --- fingerprints ---------------------------------------------------------------------------------


def test_fingerprint_tells_models_apart(tiny_bert_dir: Path, tmp_path: Path):
    first = load_encoder(str(tiny_bert_dir))
    again = load_encoder(str(tiny_bert_dir))
    other = load_encoder(str(build_tiny_bert(tmp_path / "seed1", seed=1)))
    assert model_fingerprint(first) == again.fingerprint
    assert len(first.fingerprint) == 32
    assert first.fingerprint != other.fingerprint


# --- failures -------------------------------------------------------------------------------------


def _unavailable(model: str) -> ModelUnavailable:
    with pytest.raises(ModelUnavailable) as info:
        load_encoder(model)
    assert info.value.model == model
    return info.value


def test_missing_directory(tmp_path: Path):
    assert _unavailable(str(tmp_path / "no-such-model")).reason == "no such directory"


def test_file_is_not_a_model(tmp_path: Path):
    path = tmp_path / "model.txt"
    path.write_text("hello")
    assert "not a model directory" in _unavailable(str(path)).reason


def test_directory_that_is_not_a_model(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("hello")
    assert "not a sentence-transformers model" in _unavailable(str(tmp_path)).reason


def test_directory_without_weights(tiny_bert_dir: Path, tmp_path: Path):
    copy = tmp_path / "no-weights"
    shutil.copytree(tiny_bert_dir, copy)
    (copy / "model.safetensors").unlink()
    assert "no weights" in _unavailable(str(copy)).reason


def test_incomplete_minilm_never_loads_random_weights(incomplete_minilm_dir: Path):
    assert "no weights" in _unavailable(str(incomplete_minilm_dir)).reason


@pytest.fixture()
def empty_hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_bundled_models) -> Path:
    for name in HUB_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return tmp_path / "hf"


def test_hub_name_offline_fails_fast(empty_hub_env: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    error = _unavailable(DEFAULT_MODEL)
    assert time.monotonic() - started < 10
    assert "not in the local Hugging Face cache" in error.reason


def test_hub_name_unreachable_endpoint_fails_fast(empty_hub_env: Path, monkeypatch: pytest.MonkeyPatch):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    error = _unavailable("someone/some-model")
    assert time.monotonic() - started < 10
    assert error.reason == "not in the local Hugging Face cache and 127.0.0.1 is unreachable"


def test_hub_name_loads_from_the_standard_cache(empty_hub_env: Path, tiny_bert_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = empty_hub_env / "hub" / "models--acme--tiny-bert"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_bert_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    enc = load_encoder("acme/tiny-bert")
    assert enc.model_id == "acme/tiny-bert" and enc.dimension == 32
    check_rows(enc.encode_documents(["hello"]), 1, 32)


# --- names ----------------------------------------------------------------------------------------


def test_resolve_model_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SEMSEARCH_MODEL", raising=False)
    assert resolve_model_name(None) == DEFAULT_MODEL == "sentence-transformers/all-MiniLM-L6-v2"
    monkeypatch.setenv("SEMSEARCH_MODEL", "org/env-model")
    assert resolve_model_name(None) == "org/env-model"
    assert resolve_model_name(" org/cli-model ") == "org/cli-model"


def test_local_paths_versus_hub_names(tmp_path: Path):
    assert is_local_path(str(tmp_path)) and is_local_path("./model") and is_local_path("~/m")
    assert is_local_path("a/b/c")
    assert not is_local_path("sentence-transformers/all-MiniLM-L6-v2")
    assert not is_local_path("all-MiniLM-L6-v2")
    assert model_id_for("org/name") == "org/name"
    assert model_id_for(str(tmp_path)) == str(tmp_path.resolve())


def test_bundled_copy_is_used_only_when_its_hash_matches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import embed.encode.models as models

    package = tmp_path / "fake_bundle"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model" / "model.safetensors").write_bytes(b"not the published weights")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(models, "BUNDLED_MODELS", {"org/m": ("fake_bundle", "model", "0" * 64)})
    assert models.bundled_snapshot("org/m") is None
    import hashlib

    good = hashlib.sha256(b"not the published weights").hexdigest()
    monkeypatch.setattr(models, "BUNDLED_MODELS", {"org/m": ("fake_bundle", "model", good)})
    assert models.bundled_snapshot("org/m") == str(package / "model")
    assert models.bundled_snapshot("org/other") is None
