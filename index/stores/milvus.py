"""Milvus as the store: passages, their vectors and a BM25 sparse field in one collection.

    DIR/manifest.json   store = {"kind": "milvus", "uri": ..., "collection": ...}, generation = gen-000007
    DIR/gen-000007/     passages.sqlite: the writer's ledger (documents, digests, pks); readers never open it
    collection          pk (the ledger's), id, source, title, ordinal, start, end, text, digest,
                        lexical (title + text, analysed; BM25 function -> sparse), dense, born, died

Crash safety by **versioned rows**: a run writing generation g inserts its new passages with born = g and
marks the ones it removes with died = g; it never changes a row a reader can see. Readers of generation
G see ``born <= G and died > G`` only, and the manifest (one atomic file) names G, so a run killed at any
moment leaves the last complete generation answering, and the next run undoes its leftovers first
(``recover``: delete born > G, un-mark died > G). After the manifest swap the rows no kept generation sees
(died <= the previous one) are deleted, as the local store deletes old generation folders.
Cost: every search carries that two-integer filter (scalar-indexed), a run that removes n passages makes n
partial upserts, dead rows occupy the collection until the next run, and BM25 statistics count them too.
The alternative, a new collection per generation behind an alias, would copy all N rows every run.
A rebuild (or another model) writes a fresh collection ``<name>_g<generation>``; the previous one is
dropped one run later, so a reader still on it keeps working.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.storage.store import STOP_WORDS
from index.stores.base import NewRow, StoreError, StoreSpec, VectorStore

LIVE = 1 << 62  # "died" of a row no generation has removed
BATCH = 1000  # rows per insert / query round trip
ID_BATCH = 500  # values per "in [...]" filter
MAX_TEXT = 65_535  # VARCHAR limit (bytes) of text / lexical
MAX_NAME = 4_096
FIELDS = ["pk", "id", "source", "title", "ordinal", "start", "end", "text", "digest"]
INDEX_TYPES = {("flat", "fp32"): "FLAT", ("hnsw", "fp32"): "HNSW", ("hnsw", "sq8"): "HNSW_SQ",
               ("ivf", "fp32"): "IVF_FLAT", ("ivf", "sq8"): "IVF_SQ8"}
# Milvus's analyser closest to FTS5's "porter unicode61 remove_diacritics 2" plus semsearch's stop list;
# Milvus Lite applies the standard tokenizer (\w+, lower case) and the stop words, not the stemmer.
ANALYZER = {"tokenizer": "standard",
            "filter": ["lowercase", "asciifolding", {"type": "stemmer", "language": "english"},
                       {"type": "stop", "stop_words": sorted(STOP_WORDS)}]}
OWNER_PROPERTY = "semsearch.index"  # collection property: the index folder that writes it
TOKEN_ENV, USER_ENV, PASSWORD_ENV = "SEMSEARCH_MILVUS_TOKEN", "SEMSEARCH_MILVUS_USER", "SEMSEARCH_MILVUS_PASSWORD"


def visible(generation: int) -> str:
    """The filter that shows exactly the rows of ``generation``."""
    return f"born <= {int(generation)} and died > {int(generation)}"


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pk_list(pks: Sequence[int]) -> str:
    return "[" + ",".join(str(int(p)) for p in pks) + "]"


def credentials() -> str:
    """The token from the environment (never the command line): $SEMSEARCH_MILVUS_TOKEN or USER:PASSWORD."""
    token = os.environ.get(TOKEN_ENV, "")
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    return token or (f"{user}:{password or ''}" if user else "")


def engine_errors(cls):
    """Class decorator: a pymilvus error from any public method becomes one StoreError line (never a
    traceback), naming the operation and the engine's message."""
    def wrap(name: str, method: Callable) -> Callable:
        @functools.wraps(method)
        def call(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                if not type(exc).__module__.startswith("pymilvus"):
                    raise
                reason = getattr(exc, "message", None) or str(exc).splitlines()[0]
                raise StoreError(f"Milvus failed in {cls.__name__}.{name} ({reason}); check that the server "
                                 f"runs and holds the index's collection, or rebuild with --rebuild") from None
        return call

    for name, method in list(vars(cls).items()):
        if callable(method) and (not name.startswith("_") or name == "__init__"):
            setattr(cls, name, wrap(name, method))
    return cls


_LITE_USERS: dict[str, int] = {}  # Milvus Lite file -> open clients of this process


def connect(spec: StoreSpec):
    """A MilvusClient for ``spec``, or a StoreError that says what to do. Close it with ``disconnect``."""
    try:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException
    except ImportError:
        raise StoreError("the Milvus store needs pymilvus and milvus-lite: pip install 'semsearch[scale]'") from None
    try:
        if spec.is_server:
            return MilvusClient(uri=spec.uri, token=credentials(), timeout=float(os.environ.get("SEMSEARCH_MILVUS_TIMEOUT", 30)))
        Path(spec.uri).parent.mkdir(parents=True, exist_ok=True)
        client = MilvusClient(spec.uri)
        _LITE_USERS[spec.uri] = _LITE_USERS.get(spec.uri, 0) + 1
        return client
    except MilvusException as exc:
        if not spec.is_server:
            raise StoreError(
                f"cannot open the Milvus Lite file {spec.uri} ({exc.message}); Milvus Lite serves one process "
                f"at a time: wait for the other one (a running `semsearch index`?), or serve the data with "
                f"`milvus-lite server` and use --store milvus:http://HOST:PORT"
            ) from None
        raise StoreError(f"cannot reach Milvus at {spec.uri} ({exc.message}); check that it runs, the address, "
                         f"and ${TOKEN_ENV}") from None


def disconnect(client, spec: StoreSpec) -> None:
    """Close ``client``; the last one of a Milvus Lite file also stops the in-process Lite server, which
    holds the file (one process at a time) until then, so that the next process can open it."""
    client.close()
    if spec.is_server or spec.uri not in _LITE_USERS:
        return
    _LITE_USERS[spec.uri] -= 1
    if _LITE_USERS[spec.uri] <= 0:
        del _LITE_USERS[spec.uri]
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(spec.uri)


@engine_errors
class MilvusStore(VectorStore):
    """One index's collection on a Milvus server, cluster or Lite file."""

    def __init__(self, spec: StoreSpec, index_type: str = "flat", codes: str = "fp32", owner: str | None = None) -> None:
        if spec.collection is None:
            raise ValueError("name the collection first (StoreSpec.for_index)")
        self.spec = spec
        self.base = spec.collection
        self.collection = spec.collection
        self.index_type = INDEX_TYPES.get((index_type, codes), "FLAT")
        self.owner = owner  # the index folder writing; recorded in the collection's description
        self.client = connect(spec)

    # --- what a run writes -------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {"type": self.index_type.lower(), "engine": "milvus", "description": f"Milvus {self.index_type}",
                "exact": self.index_type == "FLAT", "collection": self.collection, "params": {}, "requested": {}}

    def start_run(self, active: str | None, generation: int, fresh: bool) -> None:
        """Write into the collection readers use now (``active``), or (``fresh``: first build, --rebuild) into
        a new one; this index's other collections (a killed run's, one a reader used two runs ago) go."""
        names = [n for n in self.client.list_collections() if n == self.base or n.startswith(self.base + "_g")]
        for name in names:
            self.check_owner(name)
        reuse = not fresh and active in names
        self.collection = active if reuse else f"{self.base}_g{generation}"
        for name in names:
            if name != active:
                self.client.drop_collection(name)
        if reuse:
            load(self.client, self.collection, self.spec)

    def check_owner(self, name: str) -> None:
        """Refuse a collection another index folder wrote (two folders named the same collection)."""
        other = (self.client.describe_collection(name).get("properties") or {}).get(OWNER_PROPERTY)
        if self.owner and other and other != self.owner:
            raise StoreError(f"the Milvus collection {name} belongs to the index at {other}; name another "
                             f"collection for this one, e.g. --store {self.spec.kind}:{self.spec.uri}#other_name")

    def recover(self, committed: int | None) -> None:
        if committed is None or not self.client.has_collection(self.collection):
            return
        self.client.delete(self.collection, filter=f"born > {committed}")
        marked = self.pks(f"died > {committed} and died < {LIVE}")
        for start in range(0, len(marked), BATCH):
            self.client.upsert(self.collection, [{"pk": pk, "died": LIVE} for pk in marked[start:start + BATCH]],
                               partial_update=True)

    def pks(self, condition: str) -> list[int]:
        return [int(row["pk"]) for row in self.iterate(condition, ["pk"])]

    def iterate(self, condition: str, fields: list[str]) -> Iterator[dict]:
        it = self.client.query_iterator(self.collection, batch_size=BATCH, filter=condition, output_fields=fields)
        try:
            while batch := it.next():
                yield from batch
        finally:
            it.close()

    def known_vectors(self, digests: Sequence[str], generation: int) -> dict[str, np.ndarray]:
        if not self.client.has_collection(self.collection):
            return {}
        found: dict[str, np.ndarray] = {}
        wanted = list(dict.fromkeys(digests))
        for start in range(0, len(wanted), ID_BATCH):
            chunk = ",".join(quoted(d) for d in wanted[start:start + ID_BATCH])
            rows = self.client.query(self.collection, filter=f"digest in [{chunk}] and {visible(generation)}",
                                     output_fields=["digest", "dense"], limit=16_384)
            found.update((r["digest"], np.asarray(r["dense"], dtype=np.float32)) for r in rows)
        return found

    def write_generation(self, generation: int, added: Sequence[NewRow], removed: Sequence[int],
                         dimension: int, model: str) -> None:
        self.ensure_collection(dimension, model)
        for start in range(0, len(added), BATCH):
            self.client.insert(self.collection, [row_entity(r, generation) for r in added[start:start + BATCH]])
        for start in range(0, len(removed), BATCH):
            marks = [{"pk": int(pk), "died": generation} for pk in removed[start:start + BATCH]]
            self.client.upsert(self.collection, marks, partial_update=True)
        self.client.flush(self.collection)

    def release(self, oldest_kept: int) -> None:
        """Delete the rows no kept generation sees (a reader of ``oldest_kept`` may still be running)."""
        self.client.delete(self.collection, filter=f"died <= {int(oldest_kept)}")

    def drop_all(self) -> None:
        """Drop every collection of this index (tests and `--rebuild` elsewhere clean up with it)."""
        for name in self.client.list_collections():
            if name == self.base or name.startswith(self.base + "_g"):
                self.client.drop_collection(name)

    def ensure_collection(self, dimension: int, model: str) -> None:
        if self.client.has_collection(self.collection):
            have = dense_dimension(self.client.describe_collection(self.collection))
            if have != dimension:
                raise StoreError(f"collection {self.collection} holds {have}-d vectors, the model '{model}' "
                                 f"makes {dimension}-d ones; index again with --rebuild")
            return
        schema, index = collection_schema(self.client, dimension, self.index_type, scalar=self.spec.is_server)
        self.client.create_collection(self.collection, schema=schema, index_params=index,
                                      properties={OWNER_PROPERTY: self.owner or "", "semsearch.model": model})

    def manifest_entry(self) -> dict[str, Any]:
        return {**(self.spec.to_manifest() or {}), "active": self.collection}

    def close(self) -> None:
        disconnect(self.client, self.spec)


def load(client, collection: str, spec: StoreSpec | None = None) -> None:
    """Load a collection for search (a restarted server, or a reopened Lite file, has it released). A Lite
    file whose index sidecars cannot be read loses them and is loaded again (``drop_lite_sidecars``)."""
    state = client.get_load_state(collection).get("state")
    if getattr(state, "name", str(state)) == "Loaded":
        return
    if spec is None or spec.is_server:
        client.load_collection(collection)
        return
    try:
        with quiet_engine():  # a failure here is repaired, not reported with pymilvus's logged traceback
            client.load_collection(collection)
    except Exception:
        if not drop_lite_sidecars(Path(spec.uri), collection):
            raise
        client.load_collection(collection)


@contextlib.contextmanager
def quiet_engine():
    """Silence pymilvus's and in-process Lite's own logged tracebacks (for a failure the caller handles)."""
    loggers = [logging.getLogger(name) for name in ("pymilvus", "milvus_lite")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def drop_lite_sidecars(data_dir: Path, collection: str) -> int:
    """Remove a Lite collection's index sidecar files; returns how many went. Lite derives them from its
    committed data files and rebuilds missing ones on load, but writes them in place
    (milvus_lite/storage/segment.py, ``idx.save(path)``): a process killed meanwhile leaves one torn, and
    then the whole collection fails to load."""
    removed = 0
    for path in (data_dir / "collections" / collection / "partitions").glob("*/indexes/*"):
        if path.suffix in (".idx", ".sidx") and path.is_file():
            path.unlink()
            removed += 1
    return removed


def dense_dimension(description: dict) -> int | None:
    for f in description.get("fields", []):
        if f.get("name") == "dense":
            return int(f.get("params", {}).get("dim"))
    return None


def row_entity(row: NewRow, generation: int) -> dict[str, Any]:
    for name in ("text", "title"):
        if len(getattr(row, name).encode("utf-8")) > MAX_TEXT // 2:
            raise StoreError(f"passage {row.id}: its {name} is longer than the Milvus store's VARCHAR field "
                             f"allows ({MAX_TEXT // 2} bytes); shorten the document's title or use the local store")
    return {"pk": int(row.pk), "id": row.id, "source": row.source, "title": row.title, "ordinal": row.ordinal,
            "start": row.start, "end": row.end, "text": row.text, "digest": row.digest,
            "lexical": f"{row.title}\n\n{row.text}", "born": int(generation), "died": LIVE,
            "dense": np.asarray(row.vector, dtype=np.float32).tolist()}


def collection_schema(client, dimension: int, index_type: str, scalar: bool = True):
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    for name in ("id", "source"):
        schema.add_field(name, DataType.VARCHAR, max_length=MAX_NAME)
    schema.add_field("title", DataType.VARCHAR, max_length=MAX_TEXT)
    for name in ("ordinal", "start", "end", "born", "died"):
        schema.add_field(name, DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("digest", DataType.VARCHAR, max_length=128)
    schema.add_field("lexical", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True, analyzer_params=ANALYZER)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=int(dimension))
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=["lexical"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index("dense", index_type=index_type, metric_type="IP", params=dense_params(index_type))
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    # scalar indexes for the generation filter and id lookups; not on a Milvus Lite file, whose index
    # builds a process kill can leave empty (then the file no longer loads)
    for name in ("born", "died", "id", "source", "digest") if scalar else ():
        index.add_index(name, index_type="INVERTED")
    return schema, index


def dense_params(index_type: str) -> dict[str, Any]:
    if index_type.startswith("HNSW"):
        return {"M": 32, "efConstruction": 40}
    if index_type.startswith("IVF"):
        return {"nlist": 1024}
    return {}
