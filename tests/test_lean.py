"""Lean encoders (embed/lean.py, embed/export.py) and their use by the index (index/query_encoder.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embed.encode.sentence_transformers import load_encoder
from embed.encode.precision import cpu_supports_bf16, resolve_precision
from embed.lean.export import export_lean
from embed.lean.encoder import LeanUnavailable, load_lean
from index.build.builder import IndexOptions, build_index
from index.errors import BadQuery
from index.storage.manifest import read_manifest
from index.search.query_encoder import ENCODER_ENV, choose_encoder
from tests.corpus import write_corpus
from tests.modelkit import long_text

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["the river carries water", "a library keeps books", "", "numbers in tables " * 20, "fox", long_text(300)]
HEAVY = ("torch", "transformers", "sentence_transformers")
CLI_LIBRARIES = ("typer", "click", "rich", "pydantic")  # a plain question needs none of them (index/quick.py)
CORPUS = [
    f"{a} {b} {c}" for a in ("rivers carry", "libraries keep", "the fox jumps", "numbers appear", "tokenizers split")
    for b in ("water from the mountains", "books and maps", "over the lazy dog", "in tables and dates")
    for c in ("to the sea", "for readers", "in the sun")
]
QUESTIONS = ["where does the river go?", "what do libraries keep", "the quick brown fox", "dates and prices"]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def assert_agrees(lean, full, texts) -> None:
    """Same vectors (cosine >= 0.999; both zero for texts without tokens) for queries and documents."""
    for method in ("encode_queries", "encode_documents"):
        got, want = getattr(lean, method)(texts), getattr(full, method)(texts)
        assert got.dtype == np.float32 and got.shape == want.shape and got.flags["C_CONTIGUOUS"]
        nonzero = np.linalg.norm(want, axis=1) > 0
        assert np.all(cosines(got, want)[nonzero] >= 0.999), (method, cosines(got, want))
        np.testing.assert_allclose(got[~nonzero], 0.0)


def assert_same_top10(lean, full) -> None:
    docs_lean, docs_full = lean.encode_documents(CORPUS), full.encode_documents(CORPUS)
    for q_lean, q_full in zip(lean.encode_queries(QUESTIONS), full.encode_queries(QUESTIONS)):
        top_lean = np.argsort(-(docs_lean @ q_lean), kind="stable")[:10]
        top_full = np.argsort(-(docs_full @ q_full), kind="stable")[:10]
        assert list(top_lean) == list(top_full)


LEAN_FILES = {
    "bert": {"lean.json", "tokenizer.json", "bert.npy"},
    "onnx": {"lean.json", "tokenizer.json", "model.onnx", "model.onnx.data"},
}


@pytest.fixture(scope="module", params=["bert", "onnx"])
def lean_bert(request, tiny_bert_encoder, tmp_path_factory):
    """The tiny BertModel both ways: numpy BERT (what export picks for it) and ONNX (other architectures)."""
    kind = request.param
    return load_lean(export_lean(tiny_bert_encoder, tmp_path_factory.mktemp("lean") / kind, kind=kind))


# --- agreement with sentence-transformers ---------------------------------------------------------


def test_lean_transformer_agrees_with_sentence_transformers(lean_bert, tiny_bert_encoder):
    assert_agrees(lean_bert, tiny_bert_encoder, TEXTS)
    assert_same_top10(lean_bert, tiny_bert_encoder)
    assert (lean_bert.model_id, lean_bert.dimension, lean_bert.max_tokens) == (tiny_bert_encoder.model_id, 32, 64)
    assert lean_bert.fingerprint == tiny_bert_encoder.fingerprint
    assert lean_bert.passage_budget() == tiny_bert_encoder.passage_budget()
    assert lean_bert.counter.count(TEXTS) == tiny_bert_encoder.counter.count(TEXTS)


def test_lean_files_and_settings(lean_bert):
    settings = json.loads((lean_bert.directory / "lean.json").read_text())
    made_on_first_question = {"wordpiece.json"}  # embed/lean/wordpiece.py
    assert {p.name for p in lean_bert.directory.iterdir()} - made_on_first_question == LEAN_FILES[settings["kind"]]
    assert type(lean_bert).__name__ == {"bert": "BertEncoder", "onnx": "OnnxEncoder"}[settings["kind"]]
    assert settings["pooling"] == ["mean"] and settings["max_seq_length"] == 64
    assert settings["normalise"] is True and settings["dimension"] == 32


def test_batching_and_order_do_not_change_vectors(lean_bert):
    together = lean_bert.encode_documents(TEXTS, batch_size=2)
    alone = np.vstack([lean_bert.encode_documents([t]) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    calls = []
    lean_bert.encode_documents(TEXTS, batch_size=4, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(4, 6), (6, 6)]
    assert lean_bert.encode_queries([]).shape == (0, 32)


def test_prompted_model_applies_prompts(prompted_encoder, tmp_path):
    lean = load_lean(export_lean(prompted_encoder, tmp_path / "lean"))
    assert lean.prompts == {"query": "query: ", "document": "passage: "}
    assert_agrees(lean, prompted_encoder, TEXTS)
    assert_same_top10(lean, prompted_encoder)
    # the prompts matter: the same text as a question and as a passage gives different vectors
    assert cosines(lean.encode_queries(TEXTS[:2]), lean.encode_documents(TEXTS[:2])).max() < 0.999
    assert lean.passage_budget() == prompted_encoder.passage_budget() < 62


def test_prompt_excluded_from_pooling(prompted_model_dir, tmp_path):
    encoder = load_encoder(str(prompted_model_dir))
    encoder.model[1].include_prompt = False  # Pooling(include_prompt=False): prompt tokens not averaged
    lean = load_lean(export_lean(encoder, tmp_path / "lean"))
    assert json.loads((tmp_path / "lean" / "lean.json").read_text())["include_prompt"] is False
    assert_agrees(lean, encoder, TEXTS)


def test_cls_and_max_pooling(tiny_bert_dir, tmp_path):
    encoder = load_encoder(str(tiny_bert_dir))
    for mode in ("cls", "max"):
        encoder.model[1].pooling_mode = mode
        lean = load_lean(export_lean(encoder, tmp_path / str(mode)))
        texts = [t for t in TEXTS if t]
        got, want = lean.encode_documents(texts), encoder.model.encode(texts, normalize_embeddings=True)
        assert got.shape == want.shape and np.all(cosines(got, want) >= 0.999), mode


def test_static_export_agrees(static_encoder, tmp_path):
    lean = load_lean(export_lean(static_encoder, tmp_path / "lean"))
    assert {p.name for p in lean.directory.iterdir()} - {"wordpiece.json"} == {"lean.json", "tokenizer.json", "embeddings.npy"}
    assert_agrees(lean, static_encoder, TEXTS)
    assert_same_top10(lean, static_encoder)
    assert (lean.max_tokens, lean.special_tokens) == (static_encoder.max_tokens, 0)
    assert lean.passage_budget() == static_encoder.passage_budget()


def test_bert_numpy_cannot_run_goes_to_onnx(tiny_bert_dir, tmp_path):
    encoder = load_encoder(str(tiny_bert_dir))
    encoder.model[0].auto_model.config.hidden_act = "silu"  # as a model numpy_bert has no activation for
    with pytest.raises(LeanUnavailable, match="activation 'silu'"):
        export_lean(encoder, tmp_path / "forced", kind="bert")
    lean = load_lean(export_lean(encoder, tmp_path / "auto"))
    assert lean.settings["kind"] == "onnx" and type(lean).__name__ == "OnnxEncoder"


def test_unsupported_model_is_lean_unavailable(tiny_bert_dir, tmp_path):
    from sentence_transformers.sentence_transformer.modules import Dense

    encoder = load_encoder(str(tiny_bert_dir))
    encoder.model.append(Dense(32, 16))
    with pytest.raises(LeanUnavailable, match="Dense"):
        export_lean(encoder, tmp_path / "lean")
    assert not (tmp_path / "lean").exists()
    assert list(tmp_path.iterdir()) == []  # no half-written folder left behind


# --- damaged lean folders -------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["no-dir", "no-model", "truncated-data", "bad-json", "old-version", "bad-tokenizer"])
def test_damaged_lean_folder_is_lean_unavailable(lean_bert, tmp_path, damage):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(lean_bert.directory, target)
    model, data = ("bert.npy", "bert.npy") if (target / "bert.npy").exists() else ("model.onnx", "model.onnx.data")
    if damage == "no-dir":
        shutil.rmtree(target)
    elif damage == "no-model":
        (target / model).unlink()
    elif damage == "truncated-data":
        with open(target / data, "r+b") as handle:
            handle.truncate(100)
    elif damage == "bad-json":
        (target / "lean.json").write_text("{not json")
    elif damage == "old-version":
        settings = json.loads((target / "lean.json").read_text())
        (target / "lean.json").write_text(json.dumps({**settings, "version": 0}))
    elif damage == "bad-tokenizer":
        size = (target / "tokenizer.json").stat().st_size
        (target / "tokenizer.json").write_text("x" * size)
    with pytest.raises(LeanUnavailable):
        load_lean(target)


# --- the index records, reuses and uses the lean encoder ----------------------------------------------


@pytest.fixture
def bert_index(tmp_path, tiny_bert_dir):
    write_corpus(tmp_path / "docs")
    report = build_index([tmp_path / "docs"], tmp_path / "idx", IndexOptions(model=str(tiny_bert_dir)))
    return tmp_path, report


def shared_dir(manifest) -> Path:
    from embed.encode.derived import model_dir

    return model_dir(manifest.model.fingerprint)


def test_manifest_records_the_lean_encoder(bert_index):
    root, report = bert_index
    manifest = read_manifest(root / "idx")
    record = manifest.query_encoder
    assert report.query_encoder_notice is None
    assert record["kind"] == "bert" and record["fingerprint"] == manifest.model.fingerprint and record["shared"]
    assert (shared_dir(manifest) / "lean.json").is_file() and not (root / "idx" / "lean").exists()
    assert record["min_cosine"] >= 0.999 and record["checked_texts"] > 0
    assert manifest.precision in ("fp32", "bf16")
    encoder, note = choose_encoder(root / "idx", manifest)
    assert note is None and type(encoder).__name__ == "BertEncoder"  # a BertModel runs in numpy


def test_lean_encoder_is_exported_once_per_model(bert_index, tiny_bert_dir):
    root, _ = bert_index
    weights = shared_dir(read_manifest(root / "idx")) / "bert.npy"
    before = weights.stat().st_mtime_ns
    (root / "docs" / "space" / "new.txt").write_text("Comets\n\nA comet passed the sun and grew a tail.")
    build_index([root / "docs"], root / "idx", IndexOptions(model=str(tiny_bert_dir)))
    build_index([root / "docs"], root / "other", IndexOptions(model=str(tiny_bert_dir)))  # a second index shares them
    assert weights.stat().st_mtime_ns == before
    assert read_manifest(root / "other").query_encoder == read_manifest(root / "idx").query_encoder


def test_static_index_records_static_kind(tmp_path, static_model_dir):
    write_corpus(tmp_path / "docs")
    build_index([tmp_path / "docs"], tmp_path / "idx", IndexOptions(model=str(static_model_dir)))
    assert read_manifest(tmp_path / "idx").query_encoder["kind"] == "static"


def test_export_failure_is_a_note_not_an_error(tmp_path, tiny_bert_dir, monkeypatch):
    import embed.lean.export

    def broken(encoder, target):
        raise LeanUnavailable(encoder.model_id, "export failed (simulated)")

    monkeypatch.setattr(embed.lean.export, "export_lean", broken)
    monkeypatch.setenv("SEMSEARCH_CACHE", str(tmp_path / "cache"))  # nothing derived for this model yet
    write_corpus(tmp_path / "docs")
    report = build_index([tmp_path / "docs"], tmp_path / "idx", IndexOptions(model=str(tiny_bert_dir)))
    assert report.vectors == report.passages > 0
    assert "no lean query encoder" in report.query_encoder_notice and "simulated" in report.query_encoder_notice
    assert read_manifest(tmp_path / "idx").query_encoder is None
    encoder, note = choose_encoder(tmp_path / "idx", read_manifest(tmp_path / "idx"))
    assert type(encoder).__name__ == "SentenceTransformerEncoder" and "no lean query encoder" in note


# --- `semsearch ask` in a fresh process -------------------------------------------------------------

RUNNER = """
import json, runpy, sys
sys.argv = ["semsearch", *sys.argv[1:]]
try:
    runpy.run_module("index.cli.quick", run_name="__main__")  # the console script's entry point
except SystemExit as exc:
    code = exc.code
print(json.dumps(sorted(m for m in %r if m in sys.modules)), file=sys.stderr)
""" % (HEAVY + CLI_LIBRARIES,)


def run_ask(index_dir: Path, *args: str, env: dict | None = None, only=HEAVY) -> tuple[dict, list[str], str]:
    """(JSON answer, which of ``only`` the process imported, stderr lines before that list)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, "ask", "wild yeast starter", "--index", str(index_dir), "-k", "3", "--json", *args],
        capture_output=True, text=True, env=full_env, timeout=120,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 0 and lines, proc.stderr
    imported = [m for m in json.loads(lines[-1]) if m in only]
    return json.loads(proc.stdout), imported, "\n".join(lines[:-1])


def test_ask_never_imports_torch(bert_index):
    root, _ = bert_index
    lean_answer, heavy, stderr = run_ask(root / "idx")
    assert heavy == [] and "notice" not in stderr
    full_answer, heavy_full, _ = run_ask(root / "idx", env={ENCODER_ENV: "full"})
    assert heavy_full == sorted(HEAVY)  # the check can fail: the full path does import them
    assert [h["id"] for h in lean_answer["hits"]] == [h["id"] for h in full_answer["hits"]]
    assert [h["score"] for h in lean_answer["hits"]] == pytest.approx([h["score"] for h in full_answer["hits"]], abs=1e-3)


def test_plain_question_skips_typer_and_rich(bert_index):
    root, _ = bert_index
    _, cli_libraries, _ = run_ask(root / "idx", only=CLI_LIBRARIES)
    assert cli_libraries == []
    proc = subprocess.run(  # the check can fail: a command line the quick parser leaves to typer
        [sys.executable, "-c", RUNNER, "ask", "--help"], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120,
    )
    assert "Usage" in proc.stdout and set(json.loads(proc.stderr.strip().splitlines()[-1])) >= {"typer", "rich"}


def test_missing_lean_files_fall_back_with_a_note(bert_index):
    root, _ = bert_index
    weights = shared_dir(read_manifest(root / "idx")) / "bert.npy"
    weights.unlink()
    answer, heavy, stderr = run_ask(root / "idx")
    assert weights.is_file()  # made again by that question, for the next ones
    assert heavy == sorted(HEAVY) and len(answer["hits"]) == 3
    notes = [line for line in stderr.splitlines() if "lean query encoder" in line]
    assert len(notes) == 1 and "bert.npy is missing" in notes[0] and "made them again" in notes[0]
    _, heavy, stderr = run_ask(root / "idx")
    assert heavy == [] and "lean query encoder" not in stderr


def test_index_without_lean_record_falls_back_with_a_note(bert_index):
    root, _ = bert_index
    path = root / "idx" / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "query_encoder": None}))
    encoder, note = choose_encoder(root / "idx", read_manifest(root / "idx"))
    assert type(encoder).__name__ == "SentenceTransformerEncoder"
    assert "no lean query encoder" in note and "semsearch index" in note


# --- precision ------------------------------------------------------------------------------------


def test_cpu_flags_decide_auto_precision(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags\t\t: fpu avx2 avx512f amx_bf16 amx_tile\n")
    assert cpu_supports_bf16(cpuinfo)
    cpuinfo.write_text("processor : 0\nflags\t\t: fpu avx2 avx512f\n")
    assert not cpu_supports_bf16(cpuinfo) and not cpu_supports_bf16(tmp_path / "missing")
    assert resolve_precision("fp32") == "fp32" and resolve_precision("BF16") == "bf16"
    assert resolve_precision("auto", "cuda:0") == "fp32"
    import embed.encode.precision

    monkeypatch.setattr(embed.encode.precision, "cpu_supports_bf16", lambda: True)
    assert resolve_precision(None) == "bf16"
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp8")


def test_precision_option_is_recorded(tmp_path, tiny_bert_dir):
    write_corpus(tmp_path / "docs")
    build_index([tmp_path / "docs"], tmp_path / "idx", IndexOptions(model=str(tiny_bert_dir), precision="fp32"))
    assert read_manifest(tmp_path / "idx").precision == "fp32"
    with pytest.raises(BadQuery, match="unknown precision"):
        build_index([tmp_path / "docs"], tmp_path / "idx", IndexOptions(model=str(tiny_bert_dir), precision="fp8"))


def test_cli_precision_option(tmp_path, tiny_bert_dir, monkeypatch):
    from typer.testing import CliRunner

    from index.cli.app import app

    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "docs")
    runner = CliRunner()
    args = ["index", "docs", "--index", "idx", "--model", str(tiny_bert_dir), "--json"]
    result = runner.invoke(app, [*args, "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    assert read_manifest(tmp_path / "idx").precision == "fp32"
    result = runner.invoke(app, [*args, "--precision", "fp8"])
    assert result.exit_code == 1 and "unknown precision 'fp8'" in result.output
