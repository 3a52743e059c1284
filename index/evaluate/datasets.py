"""Labelled retrieval benchmarks: BEIR-format directories and SQuAD v1.1 json files.

``load_dataset`` reads either into one ``BenchDataset``: the documents to index, the queries of one
split and their relevance judgements (qrels). Every problem in the files is a ``DatasetError`` that
names the file and, where there is one, the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from embed.errors import SemsearchError
from embed.records import Document

QRELS_HEADER = ("query-id", "corpus-id", "score")
SQUAD_SPLIT = "dev"


class DatasetError(SemsearchError):
    """A benchmark file that cannot be read as the format it claims to be."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        where = f"{file} line {line}" if line is not None else file
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
        self.message = message


@dataclass(frozen=True)
class BenchDataset:
    """Documents, queries and qrels of one split. qrels hold only relevant (score > 0) judgements."""

    name: str
    split: str
    documents: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_dataset(path: str | Path, split: str = "test") -> BenchDataset:
    """Read a BEIR directory (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) or a SQuAD v1.1 .json file.

    The split is ignored for SQuAD, whose one split is recorded as "dev".
    """
    path = Path(path)
    if path.is_dir():
        return _load_beir(path, split)
    if path.is_file() and path.suffix.lower() == ".json":
        return _load_squad(path)
    raise unknown_source(path, "not a benchmark: expected a BEIR directory or a SQuAD v1.1 .json file")


def unknown_source(path: Path, expected: str) -> DatasetError:
    """The error for a path no loader takes: it is missing, or it is not what ``expected`` says."""
    return DatasetError(str(path), None, expected if path.exists() else "no such file or directory")


def limit_queries(ds: BenchDataset, n: int) -> BenchDataset:
    """Keep the first ``n`` queries in id order (numeric ids by value) and their qrels; all documents stay."""
    if n < 1:
        raise ValueError(f"query limit must be at least 1, not {n}")
    kept = sorted(ds.queries, key=_id_order)[:n]
    return replace(
        ds, queries={q: ds.queries[q] for q in kept}, qrels={q: dict(ds.qrels[q]) for q in kept}
    )


def _id_order(query_id: str) -> tuple[int, int, str]:
    return (0, int(query_id), query_id) if query_id.isdigit() else (1, 0, query_id)


# --- BEIR ---------------------------------------------------------------------------------------------


def _load_beir(root: Path, split: str) -> BenchDataset:
    corpus_file, queries_file = root / "corpus.jsonl", root / "queries.jsonl"
    qrels_file = root / "qrels" / f"{split}.tsv"
    for needed in (corpus_file, queries_file):
        if not needed.is_file():
            raise DatasetError(str(needed), None, "missing: a BEIR directory needs corpus.jsonl and queries.jsonl")
    if not qrels_file.is_file():
        splits = sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
        found = ", ".join(splits) if splits else "none"
        raise DatasetError(str(qrels_file), None, f"missing: no qrels for split '{split}' (available splits: {found})")
    documents = _read_corpus(corpus_file)
    all_queries = _read_queries(queries_file)
    qrels = _read_qrels(qrels_file, {d.source for d in documents}, all_queries)
    queries = {}
    for qid in qrels:
        text, line = all_queries[qid]
        if not text.strip():
            raise DatasetError(str(queries_file), line, f"empty text for query '{qid}'")
        queries[qid] = text
    if not queries:
        raise DatasetError(str(qrels_file), None, "no queries left: no judgement has a score above 0")
    return BenchDataset(name=root.name, split=split, documents=documents, queries=queries, qrels=qrels)


def _read_corpus(file: Path) -> list[Document]:
    documents: list[Document] = []
    seen: dict[str, int] = {}
    for line, record in _read_jsonl(file):
        doc_id = _required_str(record, "_id", file, line)
        if doc_id in seen:
            raise DatasetError(str(file), line, f"duplicate document id '{doc_id}' (first on line {seen[doc_id]})")
        seen[doc_id] = line
        text = _required_str(record, "text", file, line)
        title = record.get("title") or ""
        if not isinstance(title, str):
            raise DatasetError(str(file), line, f"'title' must be a string, not {type(title).__name__}")
        documents.append(Document(source=doc_id, title=title, text=text, path=str(file)))
    return documents


def _read_queries(file: Path) -> dict[str, tuple[str, int]]:
    """Every query of the file, as id -> (text, line); the split is chosen later from the qrels."""
    queries: dict[str, tuple[str, int]] = {}
    for line, record in _read_jsonl(file):
        qid = _required_str(record, "_id", file, line)
        if qid in queries:
            raise DatasetError(str(file), line, f"duplicate query id '{qid}' (first on line {queries[qid][1]})")
        queries[qid] = (_required_str(record, "text", file, line), line)
    return queries


def _read_qrels(file: Path, doc_ids: set[str], queries: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Relevant judgements (score > 0) by query; rows scoring <= 0 are checked, then dropped."""
    qrels: dict[str, dict[str, int]] = {}
    judged: set[tuple[str, str]] = set()
    with file.open(encoding="utf-8-sig", newline="") as handle:
        for line, raw in enumerate(handle, start=1):
            row = raw.rstrip("\r\n")
            if not row.strip():
                continue
            fields = row.split("\t")
            if line == 1 and tuple(f.strip().lower() for f in fields) == QRELS_HEADER:
                continue
            qid, doc_id, score = _parse_qrels_row(fields, file, line)
            if qid not in queries:
                raise DatasetError(str(file), line, f"unknown query id '{qid}' (not in queries.jsonl)")
            if doc_id not in doc_ids:
                raise DatasetError(str(file), line, f"unknown corpus id '{doc_id}' (not in corpus.jsonl)")
            if (qid, doc_id) in judged:
                raise DatasetError(str(file), line, f"duplicate judgement for query '{qid}', document '{doc_id}'")
            judged.add((qid, doc_id))
            if score > 0:
                qrels.setdefault(qid, {})[doc_id] = score
    return qrels


def _parse_qrels_row(fields: list[str], file: Path, line: int) -> tuple[str, str, int]:
    if len(fields) != 3:
        raise DatasetError(
            str(file), line, f"expected 3 tab-separated columns (query-id, corpus-id, score), found {len(fields)}"
        )
    qid, doc_id, score_text = (f.strip() for f in fields)
    if not qid or not doc_id:
        raise DatasetError(str(file), line, "empty query id or corpus id")
    if not re.fullmatch(r"[+-]?\d+", score_text):
        raise DatasetError(str(file), line, f"score must be an integer, not '{score_text}'")
    return qid, doc_id, int(score_text)


def _read_jsonl(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with file.open(encoding="utf-8-sig") as handle:
        for line, raw in enumerate(handle, start=1):
            if raw.strip():
                yield line, json_object(raw, file, line)


def json_object(raw: str, file: Path, line: int, expected: str = "expected a JSON object") -> dict[str, Any]:
    """One JSON-lines record, which must be an object; DatasetError naming the file and line otherwise."""
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DatasetError(str(file), line, f"malformed JSON: {exc.msg}") from exc
    if not isinstance(record, dict):
        raise DatasetError(str(file), line, expected)
    return record


def _required_str(record: dict[str, Any], key: str, file: Path, line: int | None) -> str:
    value = record.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and key.endswith("id"):
        return str(value)
    if not isinstance(value, str):
        problem = "missing" if value is None else f"not a string ({type(value).__name__})"
        raise DatasetError(str(file), line, f"'{key}' is {problem}")
    return value


# --- SQuAD v1.1 ---------------------------------------------------------------------------------------


def _load_squad(file: Path) -> BenchDataset:
    try:
        data = json.loads(file.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DatasetError(str(file), exc.lineno, f"not JSON: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(str(file), None, f"not UTF-8 text: {exc.reason}") from exc
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list):
        raise DatasetError(str(file), None, "missing 'data': not a SQuAD v1.1 file (expected {\"data\": [...]})")
    documents: list[Document] = []
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for a, article in enumerate(articles):
        for doc, questions in _squad_paragraphs(article, f"data[{a}]", file):
            documents.append(doc)
            for qid, question, where in questions:
                if qid in queries:
                    raise DatasetError(str(file), None, f"{where}: duplicate question id '{qid}'")
                queries[qid] = question
                qrels[qid] = {doc.source: 1}
    _check_unique_sources(documents, file)
    if not queries:
        raise DatasetError(str(file), None, "no questions in the file")
    return BenchDataset(name=file.stem, split=SQUAD_SPLIT, documents=documents, queries=queries, qrels=qrels)


def _squad_paragraphs(
    article: Any, where: str, file: Path
) -> Iterator[tuple[Document, list[tuple[str, str, str]]]]:
    """Each paragraph as a document ``<title>#<index>`` and its questions as (id, text, json path)."""
    raw_title = _squad_field(article, "title", str, where, file)
    paragraphs = _squad_field(article, "paragraphs", list, where, file)
    for p, paragraph in enumerate(paragraphs):
        here = f"{where}.paragraphs[{p}]"
        context = _squad_field(paragraph, "context", str, here, file)
        doc = Document(source=f"{raw_title}#{p}", title=raw_title.replace("_", " "), text=context, path=str(file))
        questions = []
        for q, qa in enumerate(_squad_field(paragraph, "qas", list, here, file)):
            there = f"{here}.qas[{q}]"
            qid = _squad_field(qa, "id", str, there, file)
            question = _squad_field(qa, "question", str, there, file)
            if not question.strip():
                raise DatasetError(str(file), None, f"{there}: empty question '{qid}'")
            questions.append((qid, question, there))
        yield doc, questions


def _squad_field(node: Any, key: str, kind: type, where: str, file: Path) -> Any:
    if not isinstance(node, dict) or key not in node:
        raise DatasetError(str(file), None, f"{where}: missing '{key}'")
    value = node[key]
    if not isinstance(value, kind):
        raise DatasetError(str(file), None, f"{where}.{key}: expected a {kind.__name__}, not {type(value).__name__}")
    return value


def _check_unique_sources(documents: list[Document], file: Path) -> None:
    seen: set[str] = set()
    for doc in documents:
        if doc.source in seen:
            raise DatasetError(str(file), None, f"duplicate document id '{doc.source}' (two articles share a title)")
        seen.add(doc.source)
