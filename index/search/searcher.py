"""Ranked hits for a question (`ask`) or for a passage (`related`), dense or lexical."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embed.errors import ModelUnavailable
from index.search.fusion import FusionConfig, fuse_hits, parse_fusion
from index.errors import BadQuery, IndexCorrupt, NoVectors, UnknownPassage
from index.search.reader import IndexReader, open_reader
from index.storage.store import StoredPassage

DEFAULT_FUSION = parse_fusion("rrf:10")
MODES = ("auto", "hybrid", "dense", "lexical")
CANDIDATES = 100  # depth of each ranking fed to hybrid fusion


@dataclass(frozen=True)
class Hit:
    rank: int
    id: str
    score: float
    source: str
    title: str
    text: str
    start: int
    end: int
    page: int | None = None  # the page the passage starts on (PDFs)

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("rank", "id", "score", "source", "title", "text")}
        if self.page is not None:
            out["page"] = self.page
        return out


@dataclass(frozen=True)
class SearchResult:
    query: str
    mode: str
    hits: list[Hit]
    notices: list[str] = field(default_factory=list)
    # ask(): milliseconds spent encoding the question and on everything else (what `bench` reports)
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        out = {"query": self.query, "mode": self.mode, "hits": [h.to_dict() for h in self.hits]}
        if self.notices:
            out["notices"] = list(self.notices)
        return out


class Searcher:
    """Answers questions from one opened index; loads the query encoder only when needed."""

    def __init__(
        self,
        reader: IndexReader,
        encoder_loader: Callable[[str], object] | None = None,
        fusion: FusionConfig | None = None,
        warm: bool = False,
    ) -> None:
        self.reader = reader
        self.fusion = fusion or recorded_fusion(reader) or DEFAULT_FUSION
        self.warm = warm  # a long-running process: a question encoder slower to load, quicker to answer
        self._encoder = None
        self._load = encoder_loader
        self._last_query: tuple[str, np.ndarray] | None = None
        self._helper: ThreadPoolExecutor | None = None  # warm hybrid questions: encodes beside SQLite

    @classmethod
    def open(cls, directory: str | Path, fusion: str | None = None, *, warm: bool = False) -> Searcher:
        try:
            config = parse_fusion(fusion) if fusion else None
        except ValueError as exc:
            raise BadQuery(str(exc)) from None
        return cls(open_reader(Path(directory)), fusion=config, warm=warm)

    def close(self) -> None:
        if self._helper is not None:
            self._helper.shutdown(wait=True)
        self.reader.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def encoder(self):
        """The query encoder: the index's lean one (no torch) when it loads, else sentence-transformers.

        Why the slower path was taken, if it was, is left in ``encoder_note`` (one line for the user).
        """
        if self._encoder is None and self._load is not None:  # an injected loader is used as given
            self._encoder, self.encoder_note = self._load(self.reader.manifest.model.id), None
        elif self._encoder is None:
            from index.search.query_encoder import choose_encoder

            self._encoder, self.encoder_note = choose_encoder(self.reader.directory, self.reader.manifest, warm=self.warm)
        return self._encoder

    def query_vector(self, question: str) -> np.ndarray:
        """The question's embedding; the last one is kept (terminal highlighting asks for it again)."""
        if self._last_query is None or self._last_query[0] != question:
            from embed.encode.threads import single_thread

            encoder = self.encoder
            with single_thread():
                self._last_query = (question, encoder.encode_queries([question])[0])
        return self._last_query[1]

    def ask(self, question: str, k: int = 5, mode: str = "auto") -> SearchResult:
        started = time.perf_counter()
        encode_s = 0.0
        question = question.strip()
        if not question:
            raise BadQuery("the question is empty; ask something, e.g. semsearch ask \"who visited Tehran?\"")
        check_k(k)
        chosen, notices = self.resolve_mode(mode)
        lexical = None
        if chosen in ("dense", "hybrid"):
            try:
                encode_started = time.perf_counter()
                if chosen == "hybrid" and self.warm and getattr(self.reader, "hybrid_search", None) is None:
                    vector, lexical = self.vector_beside_lexical(question, max(k, CANDIDATES))
                else:
                    vector = self.query_vector(question)
                encode_s = time.perf_counter() - encode_started
            except ModelUnavailable as exc:
                if mode != "auto":
                    raise
                notices.append(f"answering lexically: {exc}")
                chosen = "lexical"
        if chosen == "lexical":
            pairs = self.reader.store.lexical_search(question, k)
        elif chosen == "dense":
            pairs = self.dense_pairs(vector, k)
        else:
            pairs = self.hybrid_pairs(question, vector, k, lexical=lexical)
        hits = self.hits(pairs)
        total_s = time.perf_counter() - started
        timings = {"encode": encode_s * 1000.0, "search": (total_s - encode_s) * 1000.0}
        return SearchResult(question, chosen, hits, notices, timings)

    def vector_beside_lexical(self, question: str, depth: int) -> tuple[np.ndarray, list[tuple[int, float]]]:
        """(vector, lexical ranking): the question encoded on a helper thread while SQLite ranks it on this one
        (the searcher's connection stays on its own thread). Both release the GIL, so with two cores a warm
        hybrid question costs the longer of the two, not their sum."""
        if self._helper is None:
            self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="semsearch-encode")
        pending = self._helper.submit(self.query_vector, question)
        try:
            lexical = self.reader.store.lexical_search(question, depth)
        except BaseException:
            wait([pending])  # never leave the helper encoding into a searcher being torn down
            raise
        return pending.result(), lexical

    def hybrid_pairs(
        self, text: str, vector: np.ndarray, k: int, exclude=lambda pk: False, lexical: list | None = None
    ) -> list[tuple[int, float]]:
        """Fuse the dense and lexical rankings (each CANDIDATES deep) with the configured fusion; a store
        that fuses in its engine (Milvus: RRFRanker) does RRF there, with the excluded pks filtered out.
        ``lexical``: the lexical ranking when it is already known (vector_beside_lexical)."""
        depth = max(k, CANDIDATES)
        engine = getattr(self.reader, "hybrid_search", None)
        if engine is not None and self.fusion.method == "rrf" and self.fusion.rrf_k >= 1 \
                and float(self.fusion.rrf_k).is_integer():
            excluded = getattr(exclude, "__self__", None)  # related() passes a set's __contains__
            if isinstance(excluded, (set, frozenset)) or excluded is None:
                return engine(text, vector, depth, self.fusion.rrf_k, k, frozenset(excluded or ()))
        dense = dict(self.dense_pairs(vector, depth, exclude))
        if lexical is None:
            lexical = self.reader.store.lexical_search(text, depth)
        return fuse_hits(self.fusion, dense, {pk: s for pk, s in lexical if not exclude(pk)})[:k]

    def resolve_mode(self, mode: str) -> tuple[str, list[str]]:
        """The mode to run ("auto": hybrid when vectors exist, else lexical) and notices for the user."""
        if mode not in MODES:
            raise BadQuery(f"unknown mode '{mode}'; choose one of {', '.join(MODES)}")
        if mode == "lexical":
            return mode, []
        counts = self.reader.manifest.counts
        if not self.reader.has_vectors:
            if mode in ("dense", "hybrid"):
                raise NoVectors(no_vectors_message(self.reader, mode))
            return "lexical", ["this index has no vectors yet, so this answer is lexical (BM25). " + fixes(self.reader)]
        notices = []
        if counts.vectors < counts.passages:
            missing = counts.passages - counts.vectors
            notices.append(f"{missing} of {counts.passages} passages have no vectors yet. " + fixes(self.reader))
        return ("hybrid" if mode == "auto" else mode), notices

    def dense_pairs(self, vector: np.ndarray, k: int, exclude=lambda pk: False) -> list[tuple[int, float]]:
        """Top-k (pk, score) by inner product, skipping excluded pks; searches deeper until k are found."""
        index = self.reader.faiss_index
        depth = k
        while True:
            scores, pks = index.search(vector[None, :], depth + 1)
            pairs = [(int(p), float(s)) for p, s in zip(pks[0], scores[0]) if p >= 0 and not exclude(int(p))]
            if len(pairs) >= k or depth + 1 >= index.ntotal:
                return pairs[:k]
            depth *= 4

    def hits(self, pairs: list[tuple[int, float]]) -> list[Hit]:
        found = self.reader.store.passages_by_pk(pk for pk, _ in pairs)
        return [to_hit(rank, found[pk], score) for rank, (pk, score) in enumerate(pairs, 1) if pk in found]

    def related(
        self,
        passage_id: str | None = None,
        *,
        text: str | None = None,
        k: int = 5,
        other_articles: bool = False,
        mode: str = "auto",
    ) -> SearchResult:
        """Nearest passages to a stored passage (never itself) or to a text; auto = dense / hybrid for text."""
        check_k(k)
        if (passage_id is None) == (text is None):
            raise BadQuery("give either a PASSAGE_ID or --text \"...\" (not both)")
        anchor = self.anchor(passage_id) if passage_id is not None else None
        query_text = anchor.passage.text if anchor else str(text).strip()
        if not query_text:
            raise BadQuery("the text is empty; pass the paragraph to match with --text \"...\"")
        excluded = {anchor.pk} if anchor else set()
        if anchor and other_articles:
            excluded |= self.reader.store.pks_of(anchor.passage.source)
        exclude = excluded.__contains__
        chosen, notices = self.resolve_mode(mode)
        if mode == "auto" and anchor is not None and chosen == "hybrid":
            chosen = "dense"
        if chosen == "lexical":
            pairs = [p for p in self.reader.store.lexical_search(query_text, len(excluded) + k) if not exclude(p[0])]
        else:
            vector = self.anchor_vector(anchor) if anchor else self.encoder.encode_documents([query_text])[0]
            if chosen == "dense":
                pairs = self.dense_pairs(vector, k, exclude)
            else:
                pairs = self.hybrid_pairs(query_text, vector, k, exclude)
        return SearchResult(passage_id or query_text, chosen, self.hits(pairs[:k]), notices)

    def anchor(self, passage_id: str) -> StoredPassage:
        stored = self.reader.store.passage_by_id(passage_id)
        if stored is None:
            near = self.reader.store.similar_ids(passage_id)
            raise UnknownPassage(passage_id, near[0] if near else None)
        return stored

    def anchor_vector(self, anchor: StoredPassage) -> np.ndarray:
        try:
            return self.reader.faiss_index.reconstruct(anchor.pk)
        except RuntimeError:  # no vector stored for it yet: embed its text now
            return self.encoder.encode_documents([anchor.passage.text])[0]


def to_hit(rank: int, stored: StoredPassage, score: float) -> Hit:
    p = stored.passage
    return Hit(rank, p.id, round(float(score), 6), p.source, p.title, p.text, p.start, p.end, p.page)


def recorded_fusion(reader: IndexReader) -> FusionConfig | None:
    """The fusion the index's model recommends (recorded by `semsearch index` from its semsearch.json)."""
    text = reader.manifest.model.fusion
    try:
        return parse_fusion(text) if text else None
    except ValueError as exc:
        raise IndexCorrupt(str(reader.directory), f"the model's recorded fusion is unreadable ({exc})") from None


def check_k(k: int) -> None:
    if k < 1:
        raise BadQuery(f"-k must be at least 1 (got {k})")


def fixes(reader: IndexReader) -> str:
    model = reader.manifest.model.id
    return (
        f"To add vectors, make the model '{model}' loadable (connect once so it is cached, or point HF_HOME "
        f"at a cache that has it) and run `semsearch index` again, or rebuild with --model /local/dir --rebuild"
    )


def no_vectors_message(reader: IndexReader, mode: str) -> str:
    return f"--mode {mode} needs vectors, and this index has none. {fixes(reader)}; or use --mode lexical"
