"""Training pairs for `semsearch tune`: (query, passage) from BEIR directories, SQuAD v1.1 and JSONL files.

- a BEIR directory gives one pair per relevant judgement of its ``train`` qrels (another split only when
  named; ``test``, the split `semsearch bench` scores, is refused unless named, then comes with a warning);
- a SQuAD v1.1 ``.json`` file gives (question, its paragraph) for every question;
- a ``.jsonl`` file holds one ``{"query": "...", "passage": "..."}`` object per line.

Passages of BEIR and SQuAD documents are ``title + "\\n\\n" + text``, the text `semsearch bench` embeds
(see ``index.evaluate.bench.bench_documents``); all of a source's document passages are kept too (``corpus``),
so tune's held-out queries are ranked against the whole collection, as `semsearch bench` ranks them, not
only against the passages that have a question. Every problem is a DatasetError naming the file (and line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from embed.records import Document
from embed.train.pairs import TrainingPair
from index.evaluate.datasets import DatasetError, json_object, load_dataset, unknown_source

TRAIN_SPLIT = "train"
BENCH_SPLIT = "test"  # the split `semsearch bench` evaluates on (BenchOptions.split)


@dataclass(frozen=True)
class SourcePairs:
    path: str
    kind: str  # "beir" | "squad" | "jsonl"
    split: str | None
    pairs: list[TrainingPair]
    corpus: list[str] = field(default_factory=list)  # every passage of the source's documents (distractors)

    def describe(self) -> str:
        split = f", split {self.split}" if self.split else ""
        return f"{self.path} ({self.kind}{split})"


@dataclass
class TrainingData:
    sources: list[SourcePairs]
    warnings: list[str] = field(default_factory=list)

    @property
    def pairs(self) -> list[TrainingPair]:
        return [pair for source in self.sources for pair in source.pairs]

    @property
    def corpus(self) -> list[str]:
        """The sources' document passages, each once: what tune's held-out queries are also ranked against."""
        return list(dict.fromkeys(text for source in self.sources for text in source.corpus))


def load_training_pairs(paths: Sequence[str | Path], split: str | None = None) -> TrainingData:
    """The pairs of every path, in order. ``split`` picks the BEIR qrels (default: train)."""
    if not paths:
        raise DatasetError("(no training data)", None, "give at least one BEIR directory, SQuAD .json or .jsonl file")
    data = TrainingData(sources=[])
    for path in paths:
        data.sources.append(load_source(Path(path), split))
    if split == BENCH_SPLIT and any(s.kind == "beir" for s in data.sources):
        data.warnings.append(
            f"training on the '{BENCH_SPLIT}' split, the one `semsearch bench` scores: benchmark numbers of "
            f"this model on that dataset are no longer a fair test"
        )
    return data


def load_source(path: Path, split: str | None) -> SourcePairs:
    if path.is_dir():
        return beir_pairs(path, split)
    if path.is_file() and path.suffix.lower() == ".jsonl":
        return jsonl_pairs(path)
    if path.is_file() and path.suffix.lower() == ".json":
        return squad_pairs(path)
    raise unknown_source(
        path, "not training data: expected a BEIR directory, a SQuAD v1.1 .json file or a .jsonl "
        "file of {\"query\": ..., \"passage\": ...} lines",
    )


def beir_pairs(root: Path, split: str | None) -> SourcePairs:
    chosen = split or TRAIN_SPLIT
    qrels_file = root / "qrels" / f"{chosen}.tsv"
    if split is None and not qrels_file.is_file() and (root / "qrels" / f"{BENCH_SPLIT}.tsv").is_file():
        raise DatasetError(
            str(qrels_file), None, f"missing: no '{TRAIN_SPLIT}' qrels to train on; `semsearch tune` will not "
            f"train on '{BENCH_SPLIT}', the split `semsearch bench` scores, unless you pass --split {BENCH_SPLIT}",
        )
    ds = load_dataset(root, chosen)
    passages = {doc.source: doc for doc in ds.documents}
    pairs = []
    for qid in sorted(ds.qrels):
        query = _check_text(ds.queries[qid], root / "queries.jsonl", f"query '{qid}'")
        for doc_id in sorted(ds.qrels[qid]):
            text = passage_text(passages[doc_id])
            pairs.append(TrainingPair(query, _check_text(text, root / "corpus.jsonl", f"document '{doc_id}'")))
    corpus = [passage_text(doc) for doc in ds.documents if doc.text.strip()]
    return _nonempty(SourcePairs(str(root), "beir", chosen, pairs, corpus), qrels_file)


def squad_pairs(file: Path) -> SourcePairs:
    ds = load_dataset(file)
    passages = {doc.source: doc for doc in ds.documents}
    pairs = []
    for qid, query in ds.queries.items():
        (doc_id,) = ds.qrels[qid]
        text = _check_text(passage_text(passages[doc_id]), file, f"paragraph '{doc_id}'")
        pairs.append(TrainingPair(_check_text(query, file, f"question '{qid}'"), text))
    corpus = [passage_text(doc) for doc in ds.documents if doc.text.strip()]
    return _nonempty(SourcePairs(str(file), "squad", None, pairs, corpus), file)


def jsonl_pairs(file: Path) -> SourcePairs:
    pairs = []
    try:
        with file.open(encoding="utf-8-sig") as handle:
            for line, raw in enumerate(handle, start=1):
                if raw.strip():
                    pairs.append(_jsonl_pair(raw, file, line))
    except UnicodeDecodeError as exc:
        raise DatasetError(str(file), None, f"not UTF-8 text: {exc.reason}") from exc
    return _nonempty(SourcePairs(str(file), "jsonl", None, pairs), file)


def _jsonl_pair(raw: str, file: Path, line: int) -> TrainingPair:
    record = json_object(raw, file, line, 'expected a JSON object {"query": ..., "passage": ...}')
    texts = []
    for key in ("query", "passage"):
        value = record.get(key)
        if not isinstance(value, str):
            problem = "missing" if value is None else f"not a string ({type(value).__name__})"
            raise DatasetError(str(file), line, f"'{key}' is {problem}")
        if not value.strip():
            raise DatasetError(str(file), line, f"empty '{key}'")
        texts.append(value)
    return TrainingPair(*texts)


def passage_text(doc: Document) -> str:
    """The text a benchmark passage is embedded as: title, blank line, text (just the text when untitled)."""
    return f"{doc.title}\n\n{doc.text}" if doc.title.strip() else doc.text


def _check_text(text: str, file: Path, what: str) -> str:
    if not text.strip():
        raise DatasetError(str(file), None, f"empty text for {what}")
    return text


def _nonempty(source: SourcePairs, file: Path) -> SourcePairs:
    if not source.pairs:
        raise DatasetError(str(file), None, "no training pairs in it")
    return source
