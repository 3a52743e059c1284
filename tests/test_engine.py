"""The passage encoding engine: OpenVINO from derived model files, made once per machine, and index runs that
cost only their changes (no torch import when nothing or little changed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.build.builder import IndexOptions, build_index
from index.storage.manifest import read_manifest
from tests.corpus import write_corpus

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["a short one", "Sourdough bread rises slowly with wild yeast. " * 6, "", "water", "query: prompts too"]
HEAVY = ("torch", "sentence_transformers", "transformers")

pytest.importorskip("openvino")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


@pytest.mark.parametrize("model_fixture", ["tiny_bert_dir", "prompted_model_dir"])
def test_openvino_agrees_with_sentence_transformers(model_fixture, request):
    from embed.encode.factory import open_encoder
    from embed.encode.openvino import load_openvino
    from embed.encode.sentence_transformers import load_encoder

    model = str(request.getfixturevalue(model_fixture))
    opened = open_encoder(model, "fp32")
    full = load_encoder(model)
    assert type(opened.encoder).__name__ == "OpenVINOEncoder" and opened.notice is None
    assert opened.encoder.precision == "fp32" and opened.encoder.fingerprint == full.fingerprint
    for method in ("encode_documents", "encode_queries"):
        ours = getattr(opened.encoder, method)(TEXTS, batch_size=2)
        theirs = getattr(full, method)(TEXTS)
        assert ours.dtype == np.float32 and ours.shape == theirs.shape
        assert np.all(cosines(ours, theirs) >= 0.9999), method
    bf16 = load_openvino(opened.derived.directory, "bf16")
    assert bf16.precision == "bf16"
    assert np.all(cosines(bf16.encode_documents(TEXTS), full.encode_documents(TEXTS)) >= 0.99)


def test_progress_and_order_survive_asynchronous_batches(tiny_bert_dir):
    from embed.encode.factory import open_encoder

    encoder = open_encoder(str(tiny_bert_dir)).encoder
    texts = [f"passage number {i} " * (i % 7 + 1) for i in range(23)]
    calls: list[tuple[int, int]] = []
    together = encoder.encode_documents(texts, batch_size=4, progress=lambda d, t: calls.append((d, t)))
    one_by_one = np.vstack([encoder.encode_documents([t]) for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=2e-2)
    assert sorted(calls)[-1] == (23, 23) and len(calls) == 6


def test_static_model_needs_no_openvino(static_model_dir):
    from embed.encode.factory import open_encoder

    opened = open_encoder(str(static_model_dir))
    assert type(opened.encoder).__name__ == "StaticLeanEncoder" and opened.derived.engine == "lean"


def test_engine_switch_forces_sentence_transformers(tiny_bert_dir, monkeypatch):
    from embed.encode.factory import open_encoder

    monkeypatch.setenv("SEMSEARCH_ENGINE", "sentence-transformers")
    assert type(open_encoder(str(tiny_bert_dir)).encoder).__name__ == "SentenceTransformerEncoder"


def test_a_model_that_cannot_compile_falls_back_with_a_notice(tmp_path, tiny_bert_dir, monkeypatch):
    import embed.encode.openvino
    from embed.encode.factory import open_encoder

    def broken(directory, precision="auto"):
        raise RuntimeError("simulated compile failure")

    monkeypatch.setattr(embed.encode.openvino, "load_openvino", broken)
    opened = open_encoder(str(tiny_bert_dir))
    assert type(opened.encoder).__name__ == "SentenceTransformerEncoder"
    assert "simulated compile failure" in opened.notice and "sentence-transformers" in opened.notice


def test_derived_files_are_found_by_the_model_files_stamp(tmp_path, tiny_bert_dir, monkeypatch):
    from embed.encode.derived import find_derived
    from embed.encode.source import locate_model

    source = locate_model(str(tiny_bert_dir))
    monkeypatch.setenv("SEMSEARCH_CACHE", str(tmp_path / "fresh"))
    assert find_derived(source) is None  # another machine: nothing derived there
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(tiny_bert_dir, copy)
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("}", ', "note": 1}', 1))
    assert locate_model(str(copy)).stamp != source.stamp  # a changed file changes the stamp


# --- index runs cost only their changes ---------------------------------------------------------------

RUNNER = """
import json, runpy, sys
sys.argv = ["semsearch", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("index.cli.quick", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps([code, sorted(m for m in %r if m in sys.modules)]), file=sys.stderr)
""" % (HEAVY,)


def run_index(cwd: Path, *args: str) -> tuple[dict, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, "index", *args, "--json"], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300,
    )
    code, heavy = json.loads(proc.stderr.strip().splitlines()[-1])
    assert code in (0, None), proc.stderr
    return json.loads(proc.stdout), heavy


def test_unchanged_and_changed_runs_import_no_torch(tmp_path, tiny_bert_dir):
    write_corpus(tmp_path / "docs")
    first, heavy_first = run_index(tmp_path, "docs", "--index", "idx", "--model", str(tiny_bert_dir))
    generation = read_manifest(tmp_path / "idx").generation
    again, heavy = run_index(tmp_path, "docs", "--index", "idx")
    assert heavy == [] and again["unchanged"] == first["passages"] and again["encoded"] == 0
    assert read_manifest(tmp_path / "idx").generation == generation  # nothing written
    (tmp_path / "docs" / "space" / "new.txt").write_text("Comets\n\nA comet passed the sun and grew a tail.")
    changed, heavy = run_index(tmp_path, "docs", "--index", "idx")
    assert heavy == [] and changed["added"] >= 1 and changed["encoded"] == changed["added"]
    assert read_manifest(tmp_path / "idx").generation != generation
    assert "torch" in heavy_first or first["encoded"] > 0  # a first build may derive the model files


def test_changed_options_are_not_a_no_op(tmp_path, tiny_bert_dir):
    write_corpus(tmp_path / "docs")
    options = IndexOptions(model=str(tiny_bert_dir))
    build_index([tmp_path / "docs"], tmp_path / "idx", options)
    generation = read_manifest(tmp_path / "idx").generation
    build_index([tmp_path / "docs"], tmp_path / "idx", IndexOptions(model=str(tiny_bert_dir), index_type="hnsw"))
    manifest = read_manifest(tmp_path / "idx")
    assert manifest.generation != generation and manifest.faiss["type"] == "hnsw"


def test_info_reports_the_index_and_the_shared_files_apart(tmp_path, tiny_bert_dir):
    from index.api import describe_index

    write_corpus(tmp_path / "docs")
    build_index([tmp_path / "docs"], tmp_path / "idx", IndexOptions(model=str(tiny_bert_dir)))
    info = describe_index(tmp_path / "idx")
    on_disk = sum(p.stat().st_blocks * 512 for p in (tmp_path / "idx").rglob("*") if p.is_file())
    assert info.size_bytes == on_disk and info.model_files and info.model_files_bytes > 0
    assert not Path(info.model_files).is_relative_to(tmp_path / "idx")


def test_an_unwritable_cache_keeps_sentence_transformers_with_a_notice(tmp_path, tiny_bert_dir, monkeypatch):
    from embed.encode.factory import open_encoder

    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("SEMSEARCH_CACHE", str(blocker))
    opened = open_encoder(str(tiny_bert_dir))
    assert type(opened.encoder).__name__ == "SentenceTransformerEncoder"
    assert "cannot write the model cache" in opened.notice and "SEMSEARCH_CACHE" in opened.notice


def test_deriving_again_keeps_intact_files_another_process_may_be_reading(tiny_bert_dir, tiny_bert_encoder):
    from embed.encode.derived import make_derived
    from embed.encode.factory import open_encoder

    first = open_encoder(str(tiny_bert_dir)).derived
    weights = first.directory / "openvino" / "model.bin"
    inode = weights.stat().st_ino
    again = make_derived(tiny_bert_encoder, None)  # as a second process that found nothing a moment ago
    assert again.directory == first.directory and weights.stat().st_ino == inode


def warm_and_cold(tmp_path: Path, model_dir: Path, precision: str):
    from index.api import open_index

    docs = write_corpus(tmp_path / "docs")
    build_index([docs], tmp_path / "idx", IndexOptions(model=str(model_dir), precision=precision))
    return open_index(tmp_path / "idx", warm=True), open_index(tmp_path / "idx")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_warm_searcher_asks_openvino_in_float32(tmp_path, tiny_bert_dir, precision):
    warm, cold = warm_and_cold(tmp_path, tiny_bert_dir, precision)
    with warm, cold:
        assert type(warm.encoder).__name__ == "OpenVINOEncoder" and warm.encoder.precision == "fp32"
        assert warm.encoder.requests == 1 and type(warm.encoder.tokenizer).__name__ == "QuickWordPiece"
        assert type(cold.encoder).__name__ == "BertEncoder"
        questions = ["where does the river carry water?", "sourdough bread", "Zürich: café prices?"]
        assert np.all(cosines(warm.encoder.encode_queries(questions), cold.encoder.encode_queries(questions)) >= 0.99999)
        for question in questions:
            ours, theirs = warm.ask(question, k=3).hits, cold.ask(question, k=3).hits
            assert [h.id for h in ours] == [h.id for h in theirs]
            assert np.allclose([h.score for h in ours], [h.score for h in theirs], atol=1e-5)


def test_a_warm_searcher_falls_back_to_the_lean_encoder(tmp_path, tiny_bert_dir, monkeypatch):
    import embed.encode.openvino

    def broken(*args, **kwargs):
        raise RuntimeError("simulated compile failure")

    monkeypatch.setattr(embed.encode.openvino, "load_openvino", broken)
    warm, cold = warm_and_cold(tmp_path, tiny_bert_dir, "auto")
    with warm, cold:
        assert type(warm.encoder).__name__ == "BertEncoder" and warm.encoder_note is None
        assert [h.id for h in warm.ask("water", k=3).hits] == [h.id for h in cold.ask("water", k=3).hits]
