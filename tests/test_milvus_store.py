"""The Milvus store (index/stores/milvus.py) against Milvus Lite on a temp file and a `milvus-lite server` on
an ephemeral 127.0.0.1 port: index, update, delete, ask, related, hybrid, crash safety, refusals.

Oracles: the local FAISS + SQLite index of the same corpus (same ledger, so the same pks and passages)
and exact numpy top-k over the vectors the engine stores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index.build.builder import IndexOptions, build_index
from index.errors import BadQuery, IndexBusy, ModelMismatch, SemsearchError
from index.search.fusion import fuse_rrf
from index.search.reader import open_reader
from index.search.searcher import Searcher
from index.storage.layout import writer_lock
from index.stores.base import BadStore, StoreSpec, parse_store
from tests.corpus import write_corpus
from tests.milvuskit import server_uri, store_uri  # noqa: F401 - fixtures

QUESTIONS = ["moon rocket", "bread oven crust", "frozen water on mars", "soup", "lentils and onions"]


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return write_corpus(tmp_path / "docs")


def build(paths, directory, model=None, **options):
    return build_index(paths, directory, IndexOptions(model=model, **options))


@pytest.fixture
def pair(corpus, tmp_path, tiny_bert_dir, store_uri):
    """(milvus index dir, local index dir) of the same corpus."""
    build([corpus], tmp_path / "local", model=str(tiny_bert_dir))
    report = build([corpus], tmp_path / "idx", model=str(tiny_bert_dir), store=store_uri)
    yield tmp_path / "idx", tmp_path / "local", report
    drop_collections(tmp_path / "idx")


def drop_collections(directory):
    """Leave the shared server clean (each index has its own collection anyway)."""
    from index.stores.milvus import MilvusStore

    try:
        manifest = json.loads((directory / "manifest.json").read_text())
        spec = StoreSpec.from_manifest(manifest["store"])
        if spec.is_server:
            store = MilvusStore(spec)
            store.drop_all()
            store.close()
    except (OSError, KeyError, ValueError, SemsearchError):
        pass


def ids(result):
    return [h.id for h in result.hits]


def test_manifest_records_the_store_and_readers_follow_it(pair, store_uri):
    directory, _, report = pair
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["store"]["kind"] == "milvus" and manifest["store"]["active"].startswith("semsearch_")
    assert manifest["store"]["uri"] == parse_store(store_uri).uri
    assert report.vectors == report.passages == report.encoded > 0
    gen = directory / manifest["generation"]
    assert sorted(p.name for p in gen.iterdir()) == ["passages.sqlite"]  # the ledger; no vectors, no FAISS


def test_dense_hits_equal_exact_numpy_topk_and_the_local_store(pair, tiny_bert_encoder):
    directory, local, _ = pair
    reader = open_reader(directory)
    vectors, pks = reader.vectors()
    reader.close()
    with Searcher.open(directory) as remote, Searcher.open(local) as here:
        for question in QUESTIONS:
            got = remote.ask(question, k=4, mode="dense")
            query = tiny_bert_encoder.encode_queries([question])[0]
            order = np.lexsort((pks, -(vectors @ query)))[:4]
            by_pk = remote.reader.store.passages_by_pk(int(pks[i]) for i in order)
            assert ids(got) == [by_pk[int(pks[i])].passage.id for i in order]
            assert [h.score for h in got.hits] == pytest.approx([float(vectors[i] @ query) for i in order], abs=1e-5)
            assert ids(got) == ids(here.ask(question, k=4, mode="dense"))


def test_passages_in_the_engine_equal_the_local_ones(pair):
    directory, local, _ = pair
    with Searcher.open(directory) as remote, Searcher.open(local) as here:
        for source in ("docs/space/moon.txt", "docs/food/soup.html"):
            assert [s.passage for s in remote.reader.store.passages_of(source)] == \
                   [s.passage for s in here.reader.store.passages_of(source)]


def test_neighbour_ids_in_the_engine_equal_the_local_ones(corpus, tmp_path, tiny_bert_dir, store_uri):
    topics = ["rivers", "granite", "harbours", "orchards", "glaciers", "lanterns", "meadows", "comets"]
    (corpus / "long.txt").write_text("\n\n".join(
        f"Paragraph {i} is about {t}. " + " ".join(f"The {t} of region {j} were surveyed in detail." for j in range(6))
        for i, t in enumerate(topics)), encoding="utf-8")
    build([corpus], tmp_path / "local", model=str(tiny_bert_dir))
    build([corpus], tmp_path / "idx", model=str(tiny_bert_dir), store=store_uri)
    try:
        with Searcher.open(tmp_path / "idx") as remote, Searcher.open(tmp_path / "local") as here:
            ids = [s.passage.id for s in here.reader.store.passages_of("docs/long.txt")]
            assert len(ids) >= 4
            for ordinal in range(len(ids)):
                expected = (ids[ordinal - 1] if ordinal else None, ids[ordinal + 1] if ordinal + 1 < len(ids) else None)
                assert here.reader.store.neighbour_ids("docs/long.txt", ordinal) == expected
                assert remote.reader.store.neighbour_ids("docs/long.txt", ordinal) == expected
            assert here.reader.store.neighbour_ids("docs/none.txt", 0) == (None, None)
            assert remote.reader.store.neighbour_ids("docs/none.txt", 0) == (None, None)
    finally:
        drop_collections(tmp_path / "idx")


def test_lexical_and_hybrid(pair):
    directory, _, _ = pair
    with Searcher.open(directory, fusion="rrf:10") as idx:
        assert idx.ask("rye sourdough loaf", k=1, mode="lexical").hits[0].source == "docs/food/bread.txt"
        assert idx.ask("zzzz qqqq", k=3, mode="lexical").hits == []
        question = "rocket fuel on the moon"
        dense = idx.dense_pairs(idx.query_vector(question), 100)
        lexical = idx.reader.store.lexical_search(question, 100)
        expected = dict(fuse_rrf([[p for p, _ in dense], [p for p, _ in lexical]], k=10))
        fused = idx.ask(question, k=5, mode="hybrid")  # fused in the engine (RRFRanker)
        pk_of = {h.id: idx.reader.store.passage_by_id(h.id).pk for h in fused.hits}
        assert [h.score for h in fused.hits] == pytest.approx([expected[pk_of[h.id]] for h in fused.hits], abs=1e-6)
        assert sorted(expected.values(), reverse=True)[:5] == pytest.approx([h.score for h in fused.hits], abs=1e-6)


def test_related_never_returns_itself(pair):
    directory, local, _ = pair
    with Searcher.open(directory) as idx, Searcher.open(local) as here:
        anchor = "docs/space/moon.txt#0"
        result = idx.related(anchor, k=50)
        assert anchor not in ids(result) and result.hits
        assert ids(result) == ids(here.related(anchor, k=50))
        others = idx.related(anchor, k=3, other_articles=True)
        assert others.hits and all(h.source != "docs/space/moon.txt" for h in others.hits)
        texts = idx.related(text="fresh bread from the oven", k=3)
        assert texts.hits and texts.mode == "hybrid"


def live_rows(directory):
    """(visible passages, every row in the collection) of the index's current generation."""
    reader = open_reader(directory)
    try:
        total = reader.client.query(reader.collection, filter="pk >= 0", output_fields=["count(*)"])[0]["count(*)"]
        return reader.store.count(), int(total)
    finally:
        reader.close()


def test_update_and_delete_write_only_the_changes(pair, corpus, tiny_bert_dir):
    directory, _, first = pair
    again = build([corpus], directory)
    assert again.encoded == 0 and again.unchanged == first.passages
    (corpus / "food/bread.txt").write_text(
        "Baking Sourdough at Home\n\nRye flour gives a darker, denser loaf with a sour taste.", encoding="utf-8")
    (corpus / "space/mars.md").unlink()
    report = build([corpus], directory)
    assert report.removed >= 1 and report.encoded >= 1 and report.encoded < report.passages
    visible, total = live_rows(directory)
    assert visible == report.passages and total > visible  # the replaced rows stay for a reader of the last one
    with Searcher.open(directory) as idx:
        assert all("mars" not in h.id for h in idx.ask("rover ice", k=10, mode="lexical").hits)
        assert all("mars" not in h.id for h in idx.ask("rover ice", k=10, mode="dense").hits)
        assert idx.ask("rye loaf", k=1, mode="lexical").hits[0].source == "docs/food/bread.txt"
    (corpus / "space/comet.txt").write_text("A comet's tail points away from the sun.", encoding="utf-8")
    third = build([corpus], directory)
    assert third.added == 1 and third.encoded == 1
    visible, total = live_rows(directory)
    assert visible == third.passages and total == visible  # two runs later the dead rows are gone


def test_refusals(pair, corpus, tmp_path, static_model_dir, store_uri):
    directory, local, _ = pair
    with pytest.raises(ModelMismatch):
        build([corpus], directory, model=str(static_model_dir))
    with pytest.raises(BadQuery, match="--rebuild"):
        build([corpus], local, store=store_uri)  # a local index moves only with --rebuild
    with pytest.raises(BadQuery, match="--rebuild"):
        build([corpus], directory, store="local")
    with writer_lock(directory):
        with pytest.raises(IndexBusy):
            build([corpus], directory)


def test_rebuild_moves_an_index_and_another_model_gets_a_new_collection(pair, corpus, tiny_bert_dir,
                                                                       static_model_dir, store_uri):
    directory, local, first = pair
    moved = build([corpus], local, model=str(tiny_bert_dir), store=store_uri, rebuild=True)
    assert moved.passages == moved.encoded == first.passages
    assert json.loads((local / "manifest.json").read_text())["store"]["kind"] == "milvus"
    with Searcher.open(local) as idx:
        assert ids(idx.ask("moon", k=2, mode="lexical"))
    drop_collections(local)
    report = build([corpus], directory, model=str(static_model_dir), rebuild=True)
    assert report.encoded == report.passages > 0
    with Searcher.open(directory) as idx:
        assert idx.reader.manifest.model.dimension == 32 and idx.ask("moon", k=2, mode="dense").hits


@pytest.mark.parametrize("text, problem", [
    ("milvus:", "address is missing"), ("mongo:x", "unknown store"), ("milvus:./x.sqlite", "end in .db"),
    ("milvus:http://user:secret@host:19530", "credentials"), ("milvus:ftp://host/x.db", "unknown scheme"),
    ("milvus:./v.db#bad-name", "collection"),
])
def test_bad_store_names_are_one_clear_error(text, problem):
    with pytest.raises(BadStore, match=problem):
        parse_store(text)


def test_store_names():
    assert parse_store(None) == parse_store("local") == StoreSpec()
    spec = parse_store("milvus:http://db.example:19530/#docs")
    assert (spec.uri, spec.collection, spec.is_server) == ("http://db.example:19530", "docs", True)
    assert parse_store("milvus:vectors.db").uri.endswith("/vectors.db")


def test_a_busy_lite_file_is_a_clear_error(pair, store_uri, tmp_path):
    if "http" in store_uri:
        pytest.skip("a server serves many processes")
    import subprocess
    import sys

    code = ("from pymilvus import MilvusClient; import sys, time; c = MilvusClient(sys.argv[1]); "
            "print('open', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, parse_store(store_uri).uri], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(SemsearchError, match="one process at a time"):
            Searcher.open(pair[0])
    finally:
        holder.kill()
        holder.wait(30)


def test_cli_index_ask_info_follow_the_store(corpus, tmp_path, tiny_bert_dir, store_uri):
    from typer.testing import CliRunner

    from index.cli.app import app

    runner = CliRunner()
    idx = str(tmp_path / "cli-idx")
    made = runner.invoke(app, ["index", str(corpus), "--index", idx, "--store", store_uri, "--model",
                               str(tiny_bert_dir), "--json"])
    try:
        assert made.exit_code == 0, made.output
        asked = runner.invoke(app, ["ask", "rocket fuel on the moon", "--index", idx, "--json", "-k", "2"])
        assert asked.exit_code == 0 and len(json.loads(asked.stdout)["hits"]) == 2
        info = runner.invoke(app, ["info", "--index", idx, "--json"])
        details = json.loads(info.stdout)
        assert details["store"].startswith("milvus:") and details["lexical_present"] and details["vectors"] > 0
        if "://" in store_uri:  # a server's storage is the engine's own
            assert details["store_bytes"] is None
        else:  # the Lite file is counted apart from the folder
            assert details["store_bytes"] > 0 and details["size_bytes"] > 0
        text = runner.invoke(app, ["info", "--index", idx]).output
        assert ("in the Milvus Lite file" in text) != ("://" in store_uri) and "Traceback" not in text
        bad = runner.invoke(app, ["index", str(corpus), "--index", idx, "--store", "milvus:http://u:p@h:1"])
        assert bad.exit_code == 1 and "credentials" in bad.output and "Traceback" not in bad.output
    finally:
        drop_collections(tmp_path / "cli-idx")


def test_a_collection_of_another_index_is_refused_not_dropped(pair, corpus, tmp_path, tiny_bert_dir, store_uri):
    directory, _, first = pair
    named = json.loads((directory / "manifest.json").read_text())["store"]["collection"]
    with pytest.raises(SemsearchError, match="belongs to the index at"):
        build([corpus], tmp_path / "other", model=str(tiny_bert_dir), store=f"{store_uri}#{named}")
    with Searcher.open(directory) as idx:
        assert idx.reader.store.count() == first.passages


def test_a_live_index_serves_a_milvus_store_and_follows_new_generations(pair, corpus):
    """What `semsearch serve` / `mcp` answer from (index/serve/live.py): it follows the manifest's store."""
    from index.serve.live import LiveIndex

    directory, _, _ = pair
    with LiveIndex(directory, poll_seconds=60, log=lambda line: None) as live:
        before = live.generation
        hits = live.run(lambda searcher: searcher.ask("rocket fuel moon", k=2).hits)
        assert len(hits) == 2 and live.info()["store"].startswith("milvus:")
        (corpus / "space/comet.txt").write_text("A comet's tail points away from the sun.", encoding="utf-8")
        build([corpus], directory)
        assert live.refresh() and live.generation != before
        assert live.run(lambda searcher: searcher.ask("comet tail", k=1, mode="lexical").hits[0].source).endswith("comet.txt")
