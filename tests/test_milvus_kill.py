"""Killing a real `semsearch index --store milvus:...` (SIGKILL at each checkpoint of the run) leaves the
last complete generation answering, exactly as before, on a Milvus Lite file and on a server; the next run
undoes the killed run's rows and completes (index/stores/milvus.py: versioned rows).

Dense answers and the visible passages are compared exactly. BM25 and hybrid answers are checked to come
from the last generation's passages only: until the next run deletes them, a killed run's invisible rows
still count in Milvus's BM25 statistics, so lexical scores (and near-tie orders) may shift slightly."""

from __future__ import annotations

import json
import signal

import pytest

from index.build.builder import IndexOptions, build_index
from index.search.reader import open_reader
from index.search.searcher import Searcher
from tests.corpus import write_corpus
from tests.milvuskit import server_uri, store_uri  # noqa: F401 - fixtures
from tests.test_kill import CHECKPOINTS, start_index, wait_for_line


def snapshot(directory) -> tuple:
    """(counts, generation, visible rows), dense top-5, {id: text} of every visible passage, lexical and
    hybrid answers as (id, text)."""
    reader = open_reader(directory)
    state = (reader.manifest.counts, reader.manifest.generation, reader.store.count())
    passages = {s.passage.id: s.passage.text for s in reader.store.passages_by_pk(range(1, 500)).values()}
    reader.close()
    with Searcher.open(directory) as idx:
        dense = tuple(h.id for h in idx.ask("moon rocket fuel", k=5, mode="dense").hits)
        lexical = {(h.id, h.text) for h in idx.ask("bread oven", k=5, mode="lexical").hits}
        hybrid = {(h.id, h.text) for h in idx.ask("rye bread", k=5, mode="hybrid").hits}
    return state, dense, passages, lexical, hybrid


def same_generation(now: tuple, before: tuple) -> None:
    assert now[:3] == before[:3]
    assert now[3] and now[3] <= set(before[2].items()) and now[4] and now[4] <= set(before[2].items())


@pytest.fixture
def prepared(tmp_path, tiny_bert_dir, store_uri):
    write_corpus(tmp_path / "docs")
    build_index([tmp_path / "docs"], tmp_path / "idx", IndexOptions(model=str(tiny_bert_dir), store=store_uri))
    before = snapshot(tmp_path / "idx")
    (tmp_path / "docs/space/comet.txt").write_text("A comet's tail points away from the sun.", encoding="utf-8")
    (tmp_path / "docs/food/bread.txt").write_text("Rye bread is dense and dark.", encoding="utf-8")
    (tmp_path / "docs/space/mars.md").unlink()
    yield tmp_path, before, store_uri.startswith("milvus:http")
    manifest = json.loads((tmp_path / "idx/manifest.json").read_text())
    if manifest["store"]["uri"].startswith("http"):
        from index.stores.base import StoreSpec
        from index.stores.milvus import MilvusStore

        store = MilvusStore(StoreSpec.from_manifest(manifest["store"]))
        store.drop_all()
        store.close()


# "arrays-written" (the engine holds the new rows, the manifest still names the old generation) is the
# telling one and runs by default; the other checkpoints are marked slow
@pytest.mark.parametrize("point", [p if p == "arrays-written" else pytest.param(p, marks=pytest.mark.slow)
                                   for p in CHECKPOINTS])
def test_kill_at_checkpoint_keeps_the_last_generation(prepared, point):
    root, before, server = prepared
    proc = start_index(root, {"SEMSEARCH_TEST_PAUSE_AT": point})
    try:
        wait_for_line(proc, f"checkpoint {point}")
        if server and point != "after-manifest":  # Lite serves one process at a time: the writer holds it
            same_generation(snapshot(root / "idx"), before)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
        proc.wait(30)
    after = snapshot(root / "idx")
    if point == "after-manifest":
        assert after[0][0].documents == before[0][0].documents  # mars gone, comet added: the new generation
        assert after[0][1] != before[0][1] and not any("mars" in i for i in after[2])
    else:
        same_generation(after, before)
    finished = build_index([root / "docs"], root / "idx")  # recovers the killed run's leftovers
    reader = open_reader(root / "idx")
    try:
        assert reader.store.count() == finished.passages == reader.manifest.counts.passages
        assert not any("mars" in p.passage.id for p in reader.store.passages_by_pk(range(1, 200)).values())
    finally:
        reader.close()
