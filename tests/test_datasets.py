"""Benchmark loaders: BEIR directories and SQuAD v1.1 files, tiny fixtures and (when present) the real sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.evaluate.datasets import BenchDataset, DatasetError, limit_queries, load_dataset

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"

CORPUS = (
    '{"_id": "d1", "title": "Alpha", "text": "alpha text", "metadata": {}}\n'
    '{"_id": "d2", "title": "Beta", "text": "beta text"}\n'
    '{"_id": "d3", "text": "gamma text"}\n'
)
QUERIES = (
    '{"_id": "q1", "text": "first?", "metadata": {}}\n'
    '{"_id": "q2", "text": "second?"}\n'
    '{"_id": "q3", "text": "third?"}\n'
    '{"_id": "q4", "text": "fourth?"}\n'
)
# CRLF, with the BEIR header; q4 has only a score-0 row, so it is not a test query.
TEST_QRELS = "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq1\td3\t2\r\nq2\td2\t1\r\nq4\td1\t0\r\n"
TRAIN_QRELS = "q3\td2\t1\n"  # no header, LF


def write_beir(root: Path, overrides: dict[str, str] | None = None) -> Path:
    files = {"corpus.jsonl": CORPUS, "queries.jsonl": QUERIES, "qrels/test.tsv": TEST_QRELS,
             "qrels/train.tsv": TRAIN_QRELS}
    files.update(overrides or {})
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
    return root


def test_beir_test_split(tmp_path: Path) -> None:
    ds = load_dataset(write_beir(tmp_path / "tiny"))
    assert (ds.name, ds.split) == ("tiny", "test")
    assert ds.queries == {"q1": "first?", "q2": "second?"}
    assert ds.qrels == {"q1": {"d1": 1, "d3": 2}, "q2": {"d2": 1}}
    assert [(d.source, d.title, d.text) for d in ds.documents] == [
        ("d1", "Alpha", "alpha text"), ("d2", "Beta", "beta text"), ("d3", "", "gamma text")]
    assert all(d.path == str(tmp_path / "tiny" / "corpus.jsonl") for d in ds.documents)


def test_beir_train_split_without_header(tmp_path: Path) -> None:
    ds = load_dataset(write_beir(tmp_path), split="train")
    assert (ds.split, ds.queries, ds.qrels) == ("train", {"q3": "third?"}, {"q3": {"d2": 1}})
    assert len(ds.documents) == 3


def test_beir_accepts_byte_order_mark_and_blank_lines(tmp_path: Path) -> None:
    root = write_beir(tmp_path, {"qrels/test.tsv": "\ufeffquery-id\tcorpus-id\tscore\r\n\r\nq2\td2\t3\r\n"})
    assert load_dataset(root).qrels == {"q2": {"d2": 3}}


BAD_BEIR = [
    # (file to replace, its content, line named in the error, words in the message)
    ("corpus.jsonl", CORPUS.replace('"d2", "title"', '"d2" "title"'), 2, "malformed JSON"),
    ("corpus.jsonl", CORPUS + '["not", "an", "object"]\n', 4, "expected a JSON object"),
    ("corpus.jsonl", CORPUS.replace('"_id": "d2", ', ""), 2, "'_id' is missing"),
    ("corpus.jsonl", CORPUS.replace('"text": "gamma text"', '"body": "x"'), 3, "'text' is missing"),
    ("corpus.jsonl", CORPUS.replace('"text": "beta text"', '"text": 5'), 2, "'text' is not a string"),
    ("corpus.jsonl", CORPUS.replace('"_id": "d3"', '"_id": "d1"'), 3, "duplicate document id 'd1'"),
    ("queries.jsonl", QUERIES.replace('"_id": "q2", ', ""), 2, "'_id' is missing"),
    ("queries.jsonl", QUERIES.replace('"text": "third?"', '"text": null'), 3, "'text' is missing"),
    ("queries.jsonl", QUERIES + "{oops\n", 5, "malformed JSON"),
    ("queries.jsonl", QUERIES.replace('"q4"', '"q1"'), 4, "duplicate query id 'q1'"),
    ("queries.jsonl", QUERIES.replace('"second?"', '"  "'), 2, "empty text for query 'q2'"),
    ("qrels/test.tsv", "q1\td1\t1\r\nq1\td2\r\n", 2, "expected 3 tab-separated columns"),
    ("qrels/test.tsv", "q1 d1 1\r\n", 1, "expected 3 tab-separated columns"),
    ("qrels/test.tsv", "query-id\tcorpus-id\tscore\r\nq1\td1\t1.5\r\n", 2, "score must be an integer"),
    ("qrels/test.tsv", "q1\td1\tyes\r\n", 1, "score must be an integer"),
    ("qrels/test.tsv", "q1\td1\t1\r\nq9\td1\t1\r\n", 2, "unknown query id 'q9' (not in queries.jsonl)"),
    ("qrels/test.tsv", "q1\td1\t1\r\n\r\nq1\tx\t1\r\n", 3, "unknown corpus id 'x' (not in corpus.jsonl)"),
    ("qrels/test.tsv", "q1\td1\t1\r\nq1\td1\t0\r\n", 2, "duplicate judgement"),
    ("qrels/test.tsv", "q1\t\t1\r\n", 1, "empty query id or corpus id"),
]


@pytest.mark.parametrize(("name", "content", "line", "words"), BAD_BEIR)
def test_beir_bad_files_name_file_and_line(tmp_path: Path, name: str, content: str, line: int, words: str) -> None:
    root = write_beir(tmp_path, {name: content})
    with pytest.raises(DatasetError) as caught:
        load_dataset(root)
    err = caught.value
    assert (err.file, err.line) == (str(root / name), line)
    assert f"{name} line {line}: " in str(err) and words in str(err)


def test_beir_no_relevant_judgements_left(tmp_path: Path) -> None:
    root = write_beir(tmp_path, {"qrels/test.tsv": "q1\td1\t0\r\nq2\td2\t-1\r\n"})
    with pytest.raises(DatasetError, match=r"qrels/test\.tsv: no queries left"):
        load_dataset(root)


@pytest.mark.parametrize("missing", ["corpus.jsonl", "queries.jsonl"])
def test_beir_missing_file(tmp_path: Path, missing: str) -> None:
    root = write_beir(tmp_path)
    (root / missing).unlink()
    with pytest.raises(DatasetError, match=rf"{missing}: missing"):
        load_dataset(root)


def test_beir_unknown_split_lists_available_ones(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"dev\.tsv: missing: .*available splits: test, train\)"):
        load_dataset(write_beir(tmp_path), split="dev")


def test_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="notes.txt: not a benchmark"):
        load_dataset(tmp_path / "notes.txt")
    with pytest.raises(DatasetError, match="nowhere: no such file"):
        load_dataset(tmp_path / "nowhere")


def squad(**changes: object) -> dict:
    data = {"version": "1.1", "data": [
        {"title": "Super_Bowl_50", "paragraphs": [
            {"context": "The Broncos won.", "qas": [
                {"id": "a1", "question": "Who won?", "answers": [{"answer_start": 4, "text": "Broncos"}]},
                {"id": "a2", "question": "Who won?", "answers": []}]},  # same text, different id
            {"context": "It was in 2016.", "qas": [{"id": "a3", "question": "When?", "answers": []}]}]},
        {"title": "Warsaw", "paragraphs": [{"context": "A city.", "qas": [{"id": "b1", "question": "What?"}]}]}]}
    data.update(changes)
    return data


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def test_squad_paragraphs_become_documents(tmp_path: Path) -> None:
    ds = load_dataset(write_json(tmp_path / "dev-v1.1.json", squad()), split="ignored")
    assert (ds.name, ds.split) == ("dev-v1.1", "dev")
    assert [(d.source, d.title, d.text) for d in ds.documents] == [
        ("Super_Bowl_50#0", "Super Bowl 50", "The Broncos won."),
        ("Super_Bowl_50#1", "Super Bowl 50", "It was in 2016."),
        ("Warsaw#0", "Warsaw", "A city.")]
    assert ds.queries == {"a1": "Who won?", "a2": "Who won?", "a3": "When?", "b1": "What?"}
    assert ds.qrels == {"a1": {"Super_Bowl_50#0": 1}, "a2": {"Super_Bowl_50#0": 1},
                        "a3": {"Super_Bowl_50#1": 1}, "b1": {"Warsaw#0": 1}}


def drop(data: dict, *keys: object) -> dict:
    node = data
    for key in keys[:-1]:
        node = node[key]
    del node[keys[-1]]
    return data


def with_value(data: dict, value: object, *keys: object) -> dict:
    node = data
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return data


BAD_SQUAD = [
    (drop(squad(), "data"), "missing 'data'"),
    (drop(squad(), "data", 1, "paragraphs"), "data[1]: missing 'paragraphs'"),
    (drop(squad(), "data", 0, "paragraphs", 1, "context"), "data[0].paragraphs[1]: missing 'context'"),
    (drop(squad(), "data", 0, "paragraphs", 0, "qas"), "data[0].paragraphs[0]: missing 'qas'"),
    (drop(squad(), "data", 0, "paragraphs", 0, "qas", 1, "id"), "data[0].paragraphs[0].qas[1]: missing 'id'"),
    (with_value(squad(), " ", "data", 1, "paragraphs", 0, "qas", 0, "question"),
     "data[1].paragraphs[0].qas[0]: empty question 'b1'"),
    (with_value(squad(), "a1", "data", 1, "paragraphs", 0, "qas", 0, "id"), "duplicate question id 'a1'"),
    (with_value(squad(), "Super_Bowl_50", "data", 1, "title"), "duplicate document id 'Super_Bowl_50#0'"),
    (with_value(squad(), "text", "data", 0, "paragraphs"), "data[0].paragraphs: expected a list, not str"),
    ([1, 2], "missing 'data'"),
]


@pytest.mark.parametrize(("data", "words"), BAD_SQUAD)
def test_squad_bad_structure_names_file_and_place(tmp_path: Path, data: object, words: str) -> None:
    path = write_json(tmp_path / "bad.json", data)
    with pytest.raises(DatasetError) as caught:
        load_dataset(path)
    assert caught.value.file == str(path) and str(caught.value).startswith(f"{path}: ")
    assert words in str(caught.value)


def test_squad_not_json_names_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"data": [\n  {"title": "x",\n   oops}\n]}\n')
    with pytest.raises(DatasetError) as caught:
        load_dataset(path)
    assert caught.value.line == 3 and f"{path} line 3: not JSON" in str(caught.value)


def test_limit_queries_keeps_first_ids_in_numeric_order(tmp_path: Path) -> None:
    ds = BenchDataset("x", "test", [], {"10": "ten", "2": "two", "b": "bee", "1": "one"},
                      {"10": {"d": 1}, "2": {"d": 1}, "b": {"d": 1}, "1": {"e": 2}})
    small = limit_queries(ds, 2)
    assert small.queries == {"1": "one", "2": "two"} and list(small.queries) == ["1", "2"]
    assert small.qrels == {"1": {"e": 2}, "2": {"d": 1}}
    assert list(limit_queries(ds, 99).queries) == ["1", "2", "10", "b"]
    with pytest.raises(ValueError, match="at least 1"):
        limit_queries(ds, 0)


needs_data = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"shared datasets not found at {DATASETS}")


@needs_data
@pytest.mark.parametrize(("split", "n_queries", "n_rows"), [("test", 300, 339), ("train", 809, 919)])
def test_real_scifact(split: str, n_queries: int, n_rows: int) -> None:
    ds = load_dataset(DATASETS / "beir_scifact", split=split)
    assert len(ds.documents) == len({d.source for d in ds.documents}) == 5183
    assert len(ds.queries) == len(ds.qrels) == n_queries
    assert sum(len(docs) for docs in ds.qrels.values()) == n_rows
    assert all(d.title and d.text for d in ds.documents[:50])


@needs_data
def test_real_scifact_splits_do_not_overlap() -> None:
    test, train = (load_dataset(DATASETS / "beir_scifact", split=s) for s in ("test", "train"))
    assert not set(test.queries) & set(train.queries)


@needs_data
def test_real_squad() -> None:
    ds = load_dataset(DATASETS / "squad_v1.1" / "dev-v1.1.json")
    assert len(ds.documents) == len({d.source for d in ds.documents}) == 2067
    assert len(ds.queries) == len(ds.qrels) == 10570
    assert len({d.title for d in ds.documents}) == 48
    assert all(len(docs) == 1 for docs in ds.qrels.values())
    assert ds.queries["56be4db0acb8001400a502ec"] == "Which NFL team represented the AFC at Super Bowl 50?"
    assert ds.qrels["56be4db0acb8001400a502ec"] == {"Super_Bowl_50#0": 1}
