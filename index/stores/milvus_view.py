"""Reading one generation of a Milvus store: the same attributes index/search/reader.IndexReader has
(``store`` for passages and BM25, ``faiss_index`` for dense search), answered by the engine, plus
``hybrid_search`` (dense + BM25 fused with RRF inside Milvus). No local SQLite is opened."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embed.records import Passage
from index.ann.spec import AnnSpec, NoStoredVector
from index.errors import IndexCorrupt
from index.storage.store import StoredPassage, lexical_terms
from index.stores.base import StoreSpec
from index.stores.milvus import FIELDS, ID_BATCH, connect, disconnect, engine_errors, load, pk_list, quoted, visible

QUERY_LIMIT = 16_384  # Milvus's largest limit for one query / search


def generation_number(name: str | None) -> int:
    return int(str(name).rsplit("-", 1)[-1])


def to_passage(row: dict) -> StoredPassage:
    passage = Passage(row["id"], row["source"], row["title"], int(row["ordinal"]), int(row["start"]),
                      int(row["end"]), row["text"])
    return StoredPassage(int(row["pk"]), passage, row["digest"])


def bm25_score(distance: float) -> float:
    """Milvus reports BM25 as a positive score, Milvus Lite as its negation (a distance): the score."""
    return abs(float(distance))


@engine_errors
@dataclass
class MilvusPassages:
    """Passages and BM25 of one generation (the methods of index/storage/store.Store a reader uses)."""

    client: object
    collection: str
    generation: int

    def where(self, condition: str | None = None) -> str:
        return visible(self.generation) + (f" and ({condition})" if condition else "")

    def rows(self, condition: str, limit: int = QUERY_LIMIT) -> list[dict]:
        return self.client.query(self.collection, filter=self.where(condition), output_fields=FIELDS, limit=limit)

    def lexical_search(self, question: str, k: int, *, title_weight: float = 1.0,
                       excluded: frozenset[int] = frozenset()) -> list[tuple[int, float]]:
        """BM25 (the engine's) over title + text: [(pk, score)], best first; stop words dropped as locally."""
        terms = lexical_terms(question)
        if not terms or k <= 0:
            return []
        hits = self.client.search(
            self.collection, data=[" ".join(terms)], anns_field="sparse", limit=min(k, QUERY_LIMIT),
            filter=self.where(f"pk not in {pk_list(sorted(excluded))}" if excluded else None),
            output_fields=["pk"], search_params={"metric_type": "BM25"},
        )[0]
        pairs = [(int(h["pk"]), bm25_score(h["distance"])) for h in hits]
        return [(pk, s) for pk, s in pairs if s > 0]

    def passages_by_pk(self, pks) -> dict[int, StoredPassage]:
        pks = [int(p) for p in pks]
        found: dict[int, StoredPassage] = {}
        for start in range(0, len(pks), ID_BATCH):
            found.update((s.pk, s) for s in map(to_passage, self.rows(f"pk in {pk_list(pks[start:start + ID_BATCH])}")))
        return found

    def passage_by_id(self, passage_id: str) -> StoredPassage | None:
        rows = self.rows(f"id == {quoted(passage_id)}", limit=1)
        return to_passage(rows[0]) if rows else None

    def passages_of(self, source: str) -> list[StoredPassage]:
        return sorted(map(to_passage, self.rows(f"source == {quoted(source)}")), key=lambda s: s.passage.ordinal)

    def neighbour_ids(self, source: str, ordinal: int) -> tuple[str | None, str | None]:
        """The ids of the passages before and after ``ordinal`` in ``source`` (a document's ordinals run
        0, 1, 2, ...: every run writes a changed document's passages whole)."""
        rows = self.rows(f"source == {quoted(source)} and ordinal in [{int(ordinal) - 1}, {int(ordinal) + 1}]", limit=2)
        by_ordinal = {int(row["ordinal"]): str(row["id"]) for row in rows}
        return by_ordinal.get(int(ordinal) - 1), by_ordinal.get(int(ordinal) + 1)

    def similar_ids(self, passage_id: str, limit: int = 1) -> list[str]:
        return [s.passage.id for s in self.passages_of(passage_id.split("#", 1)[0])[:limit]]

    def pks_of(self, source: str) -> set[int]:
        return {s.pk for s in self.passages_of(source)}

    def count(self, table: str = "passages") -> int:
        if table != "passages":
            raise ValueError(f"a Milvus store counts passages only, not {table}")
        rows = self.client.query(self.collection, filter=self.where(), output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def close(self) -> None:
        pass


@engine_errors
@dataclass
class MilvusDense:
    """Dense search of one generation, shaped like index/ann/search.DenseIndex (search, ntotal, reconstruct)."""

    client: object
    collection: str
    generation: int
    ntotal: int
    spec: AnnSpec

    def search(self, queries: np.ndarray, k: int, excluded: frozenset[int] = frozenset()):
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(int(k), QUERY_LIMIT))
        condition = visible(self.generation) + (f" and pk not in {pk_list(sorted(excluded))}" if excluded else "")
        results = self.client.search(self.collection, data=[q.tolist() for q in queries], anns_field="dense",
                                     limit=k, filter=condition, output_fields=["pk"],
                                     search_params={"metric_type": "IP"})
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        pks = np.full((len(queries), k), -1, dtype=np.int64)
        for row, hits in enumerate(results):
            for col, hit in enumerate(hits[:k]):
                scores[row, col], pks[row, col] = float(hit["distance"]), int(hit["pk"])
        return scores, pks

    def reconstruct(self, pk: int) -> np.ndarray:
        rows = self.client.query(self.collection, filter=f"pk == {int(pk)} and {visible(self.generation)}",
                                 output_fields=["dense"])
        if not rows:
            raise NoStoredVector(f"no stored vector for pk {pk}")
        return np.asarray(rows[0]["dense"], dtype=np.float32)

    def close(self) -> None:
        pass


@engine_errors
class MilvusView:
    """A consistent, read-only view of one generation of a Milvus store (counts checked on open)."""

    def __init__(self, directory: Path, manifest, client, collection: str, spec: StoreSpec | None = None) -> None:
        self.directory = Path(directory)
        self.spec = spec or StoreSpec.from_manifest(manifest.store)
        self.manifest = manifest
        self.client = client
        self.collection = collection
        self.generation = generation_number(manifest.generation)
        if not client.has_collection(collection):
            raise IndexCorrupt(str(directory), f"the Milvus collection {collection} is missing")
        load(client, collection, self.spec)
        self.store = MilvusPassages(client, collection, self.generation)
        spec = AnnSpec() if (manifest.faiss or {}).get("exact") else AnnSpec("hnsw", "fp32")
        self.faiss_index = MilvusDense(client, collection, self.generation, manifest.counts.vectors, spec)
        live = self.store.count()
        if live != manifest.counts.passages:
            raise IndexCorrupt(str(directory), f"Milvus collection {collection} holds {live} passages of "
                                               f"{manifest.generation}, the manifest says {manifest.counts.passages}")

    @property
    def generation_dir(self) -> Path:
        return self.directory / str(self.manifest.generation)

    @property
    def has_vectors(self) -> bool:
        return self.manifest.counts.vectors > 0

    def hybrid_search(self, text: str, vector: np.ndarray, depth: int, rrf_k: float, limit: int,
                      excluded: frozenset[int] = frozenset()) -> list[tuple[int, float]]:
        """Dense and BM25 rankings, each ``depth`` deep, fused by Milvus's RRFRanker(rrf_k)."""
        from pymilvus import AnnSearchRequest, RRFRanker

        terms = lexical_terms(text)
        condition = visible(self.generation) + (f" and pk not in {pk_list(sorted(excluded))}" if excluded else "")
        depth = min(depth, QUERY_LIMIT)
        requests = [AnnSearchRequest([np.asarray(vector, dtype=np.float32).tolist()], "dense",
                                     {"metric_type": "IP"}, depth, expr=condition)]
        if terms:
            requests.append(AnnSearchRequest([" ".join(terms)], "sparse", {"metric_type": "BM25"}, depth,
                                             expr=condition))
        hits = self.client.hybrid_search(self.collection, requests, RRFRanker(int(round(rrf_k))),
                                         limit=min(limit, QUERY_LIMIT), output_fields=["pk"])[0]
        return [(int(h["pk"]), float(h["distance"])) for h in hits]

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, pks) of this generation, pk order (read from the engine: tests and recall checks)."""
        it = self.client.query_iterator(self.collection, batch_size=1000, filter=visible(self.generation),
                                        output_fields=["pk", "dense"])
        rows = []
        try:
            while batch := it.next():
                rows.extend(batch)
        finally:
            it.close()
        rows.sort(key=lambda r: int(r["pk"]))
        dim = self.manifest.model.dimension or 0
        vectors = np.array([r["dense"] for r in rows], dtype=np.float32).reshape(len(rows), dim)
        return vectors, np.array([int(r["pk"]) for r in rows], dtype=np.int64)

    def close(self) -> None:
        disconnect(self.client, self.spec)


def open_milvus_view(directory: Path, manifest) -> MilvusView:
    """The reader of a manifest whose ``store`` is Milvus (index/search/reader.open_reader sends it here)."""
    spec = StoreSpec.from_manifest(manifest.store)
    client = connect(spec)
    try:
        return MilvusView(directory, manifest, client, manifest.store.get("active") or spec.collection, spec)
    except BaseException:
        disconnect(client, spec)
        raise
