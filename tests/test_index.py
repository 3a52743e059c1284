"""The index library: build, incremental updates, oracle search, model checks, offline fallback."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from embed.encode.sentence_transformers import load_encoder
from index import describe_index, index_paths, open_index
from index.errors import BadQuery, IndexBusy, IndexCorrupt, IndexNotFound, ModelMismatch, UnknownPassage
from index.storage.layout import writer_lock
from index.search.reader import open_reader
from tests.corpus import write_corpus


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return write_corpus(tmp_path / "docs")


@pytest.fixture
def built(corpus, tmp_path, tiny_bert_dir):
    report = index_paths([corpus], tmp_path / "idx", model=str(tiny_bert_dir))
    return tmp_path / "idx", report


def test_build_counts_and_manifest(built, tiny_bert_dir):
    directory, report = built
    assert report.documents == 4 and report.passages >= 4
    assert report.added == report.passages == report.vectors == report.encoded
    assert report.updated == report.removed == report.unchanged == 0
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["format_version"] == 1
    assert manifest["model"]["id"] == str(tiny_bert_dir.resolve())
    assert manifest["model"]["dimension"] == 32
    assert manifest["normalization"] == "l2"
    assert manifest["chunker"]["max_tokens"] > 0
    assert manifest["counts"] == {"documents": 4, "passages": report.passages, "vectors": report.vectors}
    info = describe_index(directory)
    assert info.vectors_present and info.lexical_present and info.size_bytes > 0


def test_passage_ids_are_path_and_ordinal(built):
    directory, _ = built
    with open_index(directory) as idx:
        ids = [row[0] for row in idx.reader.store.conn.execute("SELECT id FROM passages ORDER BY id")]
    assert "docs/space/moon.txt#0" in ids
    assert all("#" in i for i in ids)


def test_dense_hits_equal_exact_numpy_topk(built, tiny_bert_dir):
    directory, _ = built
    encoder = load_encoder(str(tiny_bert_dir))
    reader = open_reader(directory)
    vectors, ids = reader.vectors()
    with open_index(directory) as idx:
        for question in ["moon rocket", "bread oven crust", "frozen water on mars", "soup"]:
            result = idx.ask(question, k=3, mode="dense")
            query = encoder.encode_queries([question])[0]
            expected = np.argsort(-(vectors @ query), kind="stable")[:3]
            pks = reader.store.passages_by_pk(int(ids[i]) for i in expected)
            assert [h.id for h in result.hits] == [pks[int(ids[i])].passage.id for i in expected]
            assert [h.score for h in result.hits] == pytest.approx([float(vectors[i] @ query) for i in expected], abs=1e-5)
    reader.close()


def test_rerun_unchanged_encodes_nothing(built, corpus, tiny_bert_dir):
    directory, first = built
    again = index_paths([corpus], directory)
    assert again.encoded == 0 and again.added == again.updated == again.removed == 0
    assert again.unchanged == first.passages


def test_incremental_update_and_removal(built, corpus):
    directory, first = built
    with open_index(directory) as idx:
        mars = len(idx.reader.store.passages_of("docs/space/mars.md"))
        bread = {p.passage.id: p.digest for p in idx.reader.store.passages_of("docs/food/bread.txt")}
    (corpus / "food/bread.txt").write_text(
        "Baking Sourdough at Home\n\nBakers mix flour, water and salt, then let the wild yeast starter ferment overnight.\n\n"
        "Rye flour gives a darker, denser loaf with a sour taste.", encoding="utf-8"
    )
    (corpus / "space/mars.md").unlink()
    report = index_paths([corpus], directory)
    with open_index(directory) as idx:
        new_bread = {p.passage.id: p.digest for p in idx.reader.store.passages_of("docs/food/bread.txt")}
    changed = sum(1 for pid, digest in new_bread.items() if pid in bread and bread[pid] != digest)
    assert mars >= 1 and report.removed == mars + len(set(bread) - set(new_bread))
    assert report.updated == changed >= 1 and report.added == len(set(new_bread) - set(bread))
    assert report.encoded == changed + report.added
    assert report.unchanged == first.passages - mars - len(bread) + (len(new_bread) - changed - report.added)
    with open_index(directory) as idx:
        assert all("mars" not in h.id for h in idx.ask("rover ice", k=10, mode="lexical").hits)
        assert idx.ask("rye loaf", k=1, mode="lexical").hits[0].source == "docs/food/bread.txt"


def test_indexing_a_sibling_folder_keeps_other_documents(built, tmp_path):
    directory, first = built
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "note.txt").write_text("Volcanoes erupt molten lava and ash.", encoding="utf-8")
    report = index_paths([extra], directory)
    assert report.removed == 0 and report.added == 1
    assert report.documents == first.documents + 1


def test_model_mismatch_is_refused_and_rebuild_starts_over(built, corpus, static_model_dir):
    directory, _ = built
    with pytest.raises(ModelMismatch) as exc:
        index_paths([corpus], directory, model=str(static_model_dir))
    assert str(static_model_dir.resolve()) in str(exc.value) and "--rebuild" in str(exc.value)
    report = index_paths([corpus], directory, model=str(static_model_dir), rebuild=True)
    assert report.encoded == report.passages
    assert describe_index(directory).model == str(static_model_dir.resolve())


def test_missing_model_path_is_an_error_then_vectors_arrive(corpus, tmp_path, tiny_bert_dir):
    """A --model path that does not exist is an error (issue 14), not a lexical index tied to nothing."""
    import shutil

    from embed.errors import ModelPathInvalid

    later = tmp_path / "model-later"
    with pytest.raises(ModelPathInvalid, match="no such directory"):
        index_paths([corpus], tmp_path / "idx", model=str(later))
    assert not (tmp_path / "idx/manifest.json").exists()
    shutil.copytree(tiny_bert_dir, later)
    report = index_paths([corpus], tmp_path / "idx", model=str(later))
    assert report.vectors == report.passages > 0 and report.model_notice is None
    with open_index(tmp_path / "idx") as idx:
        assert idx.ask("moon", k=2).mode == "hybrid"


def test_offline_hub_model_fails_fast(corpus, tmp_path, monkeypatch, no_bundled_models):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    report = index_paths([corpus], tmp_path / "idx", model="sentence-transformers/all-MiniLM-L6-v2")
    assert report.vectors == 0 and report.passages > 0 and report.seconds < 30
    assert "sentence-transformers/all-MiniLM-L6-v2" in report.model_notice


def test_related_never_returns_itself(built):
    directory, _ = built
    with open_index(directory) as idx:
        anchor = "docs/space/moon.txt#0"
        result = idx.related(anchor, k=50)
        assert anchor not in [h.id for h in result.hits] and result.hits
        others = idx.related(anchor, k=3, other_articles=True)
        assert all(h.source != "docs/space/moon.txt" for h in others.hits)
        assert idx.related(text="fresh bread from the oven", k=2).hits


@pytest.mark.parametrize(
    "question",
    ['"unbalanced quote', "moon AND NOT rocket", "NEAR(moon rocket)", "rock* -fuel", "(a) OR [b]", "col:umn ^x", "?!"],
)
def test_lexical_questions_never_break_query_syntax(built, question):
    directory, _ = built
    with open_index(directory) as idx:
        idx.ask(question, mode="lexical")


@pytest.mark.parametrize("call", ["empty", "blank", "k0", "mode", "unknown"])
def test_bad_queries_are_typed_errors(built, call):
    directory, _ = built
    with open_index(directory) as idx:
        with pytest.raises((BadQuery, UnknownPassage)):
            {
                "empty": lambda: idx.ask(""),
                "blank": lambda: idx.ask("   "),
                "k0": lambda: idx.ask("moon", k=0),
                "mode": lambda: idx.ask("moon", mode="magic"),
                "unknown": lambda: idx.related("docs/space/moon.txt#99"),
            }[call]()


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFound):
        open_index(tmp_path / "nothing")


def test_second_writer_is_refused(built, corpus):
    directory, _ = built
    with writer_lock(directory):
        with pytest.raises(IndexBusy):
            index_paths([corpus], directory)


@pytest.mark.parametrize("damage", ["faiss", "sqlite", "counts", "manifest", "generation"])
def test_damaged_index_is_reported_with_the_fix(built, damage):
    directory, _ = built
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    gen = directory / manifest["generation"]
    if damage == "faiss":
        (gen / "faiss.index").write_bytes(b"garbage")
    elif damage == "sqlite":
        (gen / "passages.sqlite").write_bytes(b"not a database at all" * 100)
    elif damage == "counts":
        manifest["counts"]["passages"] += 1
        manifest_path.write_text(json.dumps(manifest))
    elif damage == "manifest":
        manifest_path.write_text("{not json")
    else:
        manifest["generation"] = "gen-999999"
        manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt) as exc:
        open_index(directory)
    assert "--rebuild" in str(exc.value)


def test_unreadable_files_are_skipped_and_counted(corpus, tmp_path, tiny_bert_dir):
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02" * 50)
    (corpus / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (corpus / "empty.md").write_text("   \n", encoding="utf-8")
    report = index_paths([corpus], tmp_path / "idx", model=str(tiny_bert_dir))
    left_out = [s for s in report.skipped if s.kind == "skipped"]
    assert sorted(os.path.basename(s.path) for s in left_out) == ["binary.txt", "empty.md"]
    assert report.documents == 5  # the Latin-1 file is read as cp1252 (detected), not lost: a note
    assert [(os.path.basename(s.path), s.kind) for s in report.skipped if s.kind == "note"] == [("latin1.txt", "note")]


def test_hybrid_is_rrf_of_dense_and_lexical(built):
    from index.search.fusion import fuse_rrf

    directory, _ = built
    with open_index(directory, fusion="rrf:10") as idx:
        question = "rocket fuel on the moon"
        pk = {}

        def ranking(mode):
            ids = [h.id for h in idx.ask(question, k=100, mode=mode).hits]
            pk.update((i, idx.reader.store.passage_by_id(i).pk) for i in ids)
            return [pk[i] for i in ids]

        fused = fuse_rrf([ranking("dense"), ranking("lexical")], k=10)[:3]
        by_pk = {v: i for i, v in pk.items()}
        expected = [by_pk[p] for p, _ in fused]
        assert [h.id for h in idx.ask(question, k=3, mode="hybrid").hits] == expected
