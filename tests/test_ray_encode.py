"""`semsearch index --ray local --store milvus:...`: passages encoded by a Ray Data actor pool on a local
Ray (2 CPUs) give the same passages and vectors as a local run (each actor holds the same encoder)."""

from __future__ import annotations

import numpy as np
import pytest

from index.build.builder import IndexOptions, build_index
from index.errors import BadQuery
from index.search.reader import open_reader
from tests.corpus import write_corpus
from tests.milvuskit import require_milvus


@pytest.fixture
def ray_session():
    pytest.importorskip("ray", reason="--ray needs the 'scale' extra (pip install -e '.[scale]')")
    require_milvus()
    from embed.encode.ray_pool import stop_ray

    yield
    stop_ray()


def vectors_by_id(directory):
    reader = open_reader(directory)
    try:
        vectors, pks = reader.vectors()
        found = reader.store.passages_by_pk(int(p) for p in pks)
        return {found[int(p)].passage.id: v for p, v in zip(pks, vectors)}
    finally:
        reader.close()


@pytest.mark.slow  # ~60 s: a local Ray and two actors loading the encoder
def test_ray_run_equals_a_local_run(ray_session, tmp_path, monkeypatch, tiny_bert_dir):
    monkeypatch.chdir(tmp_path)
    docs = write_corpus(tmp_path / "docs")
    model = str(tiny_bert_dir)
    local = build_index([docs], tmp_path / "local", IndexOptions(model=model))
    remote = build_index([docs], tmp_path / "idx", IndexOptions(
        model=model, store=f"milvus:{tmp_path / 'v.db'}", ray="local", ray_workers=2, batch_size=2))
    assert remote.encoded == remote.vectors == local.vectors > 0
    here, there = vectors_by_id(tmp_path / "local"), vectors_by_id(tmp_path / "idx")
    assert sorted(here) == sorted(there)
    cosines = [float(np.dot(here[i], there[i])) for i in here]
    assert min(cosines) >= 0.9999


def test_ray_needs_an_outside_store(tmp_path, tiny_bert_dir):
    docs = write_corpus(tmp_path / "docs")
    with pytest.raises(BadQuery, match="--store"):
        build_index([docs], tmp_path / "idx", IndexOptions(model=str(tiny_bert_dir), ray="local"))
