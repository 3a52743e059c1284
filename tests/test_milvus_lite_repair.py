"""A Milvus Lite file whose index sidecars were torn (a process killed while Lite wrote one in place) still
opens: the sidecars are derived from Lite's committed data files, so they are removed and Lite rebuilds them
(index/stores/milvus.py, ``drop_lite_sidecars``). Answers are compared with those before the damage."""

from __future__ import annotations

import json

import pytest

from index.build.builder import IndexOptions, build_index
from index.search.searcher import Searcher
from tests.corpus import write_corpus
from tests.milvuskit import require_milvus

QUESTIONS = ["moon rocket fuel", "bread oven crust", "lentil soup"]


def answers(directory) -> list:
    with Searcher.open(directory) as idx:
        return [[(h.id, round(h.score, 5)) for h in idx.ask(q, k=4, mode=mode).hits]
                for q in QUESTIONS for mode in ("dense", "lexical", "hybrid")]


def sidecars(lite):
    return sorted(p for p in lite.rglob("*") if p.suffix in (".idx", ".sidx"))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def empty(path):
    path.write_bytes(b"")


def garbage(path):
    path.write_bytes(b"\x93NUMPY not an array" * 7)


@pytest.fixture
def lite_index(tmp_path, tiny_bert_dir):
    require_milvus()
    write_corpus(tmp_path / "docs")
    lite = tmp_path / "vectors.db"
    build_index([tmp_path / "docs"], tmp_path / "idx", IndexOptions(model=str(tiny_bert_dir), store=f"milvus:{lite}"))
    assert sidecars(lite), "Lite wrote no index sidecar: the layout this repair knows has changed"
    return tmp_path, lite


@pytest.mark.parametrize("damage", [truncate, empty, garbage])
def test_a_torn_sidecar_is_rebuilt_and_the_answers_are_unchanged(lite_index, damage, tiny_bert_dir):
    root, lite = lite_index
    before = answers(root / "idx")
    for path in sidecars(lite):
        damage(path)
    assert answers(root / "idx") == before
    # the next run writes into the repaired collection
    (root / "docs/space/comet.txt").write_text("A comet's tail points away from the sun.", encoding="utf-8")
    report = build_index([root / "docs"], root / "idx", IndexOptions(model=str(tiny_bert_dir), store=f"milvus:{lite}"))
    assert report.added == 1
    with Searcher.open(root / "idx") as idx:
        assert idx.ask("comet tail", k=1, mode="lexical").hits[0].id.startswith("docs/space/comet.txt")


def test_the_cli_answers_without_a_traceback(lite_index):
    from typer.testing import CliRunner

    from index.cli.app import app

    root, lite = lite_index
    for path in sidecars(lite):
        truncate(path)
    result = CliRunner().invoke(app, ["ask", "moon rocket fuel", "--index", str(root / "idx"), "--json", "-k", "2"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["hits"]) == 2 and "Traceback" not in result.output


def test_damaged_data_is_still_one_clear_error(lite_index):
    """Only the derived sidecars are repaired; a damaged data file is reported, not hidden."""
    from index.errors import SemsearchError

    root, lite = lite_index
    for path in lite.rglob("*.parquet"):
        path.write_bytes(b"PAR1 torn")
    with pytest.raises(SemsearchError, match="Milvus"):
        answers(root / "idx")
