"""The importable Python API; the CLI is a thin layer over these functions.

    from index import index_paths, open_index
    report = index_paths(["seeds/"], ".semsearch")
    with open_index(".semsearch") as idx:
        for hit in idx.ask("Who visited Tehran?", k=3).hits:
            print(hit.score, hit.id, hit.text[:80])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from index.storage.layout import default_index_dir
from index.search.reader import open_reader
from index.search.searcher import Searcher, SearchResult

if TYPE_CHECKING:  # the builder (and what it imports) is loaded only by index_paths
    from index.build.builder import IndexReport, PhaseProgress


def resolve_dir(directory: str | Path | None) -> Path:
    return Path(directory) if directory is not None else default_index_dir()


def index_paths(
    paths: Sequence[str | Path],
    directory: str | Path | None = None,
    *,
    model: str | None = None,
    rebuild: bool = False,
    wait: bool = False,
    batch_size: int = 32,
    precision: str = "auto",
    index_type: str = "auto",
    vectors: str = "auto",
    store: str | None = None,
    ray: str | None = None,
    ray_workers: int | None = None,
    progress: PhaseProgress | None = None,
) -> IndexReport:
    """Index files and folders into ``directory`` (default: $SEMSEARCH_INDEX or ./.semsearch).

    ``precision`` (auto | fp32 | bf16), ``index_type`` (auto | flat | hnsw | ivf) and ``vectors``
    (auto | fp32 | fp16 | sq8): see IndexOptions in index/builder.py. ``store``: where passages and vectors
    live ("milvus:./vectors.db", "milvus:http://host:19530"; None: where the index has them, a new one
    locally); ``ray``: encode on Ray ("local" or a cluster address) with ``ray_workers`` actors.
    """
    from index.build.builder import IndexOptions, build_index

    options = IndexOptions(
        model=model, rebuild=rebuild, wait=wait, batch_size=batch_size, precision=precision,
        index_type=index_type, vectors=vectors, store=store, ray=ray, ray_workers=ray_workers,
    )
    return build_index(paths, resolve_dir(directory), options, progress)


def open_index(directory: str | Path | None = None, *, fusion: str | None = None, warm: bool = False) -> Searcher:
    """Open an index for questions; use as a context manager or call .close().

    ``fusion`` picks how hybrid search merges rankings: "rrf", "rrf:10", "weighted:0.7".
    ``warm``: for a long-running process asking many questions (a server): the question encoder takes
    ~0.1 s more to load and answers 2.6x quicker (index/search/query_encoder.py).
    """
    return Searcher.open(resolve_dir(directory), fusion=fusion, warm=warm)


def ask(question: str, directory: str | Path | None = None, *, k: int = 5, mode: str = "auto") -> SearchResult:
    with open_index(directory) as searcher:
        return searcher.ask(question, k=k, mode=mode)


def related(
    passage_id: str | None = None,
    directory: str | Path | None = None,
    *,
    text: str | None = None,
    k: int = 5,
    other_articles: bool = False,
) -> SearchResult:
    with open_index(directory) as searcher:
        return searcher.related(passage_id, text=text, k=k, other_articles=other_articles)


@dataclass(frozen=True)
class IndexInfo:
    directory: str
    model: str
    dimension: int | None
    max_tokens: int | None
    prompts: dict
    documents: int
    passages: int
    vectors: int
    vectors_present: bool
    lexical_present: bool
    size_bytes: int
    created: str
    updated: str
    generation: str
    chunker: dict
    format_version: int
    query_encoder: dict | None = None  # the lean encoder questions use (kind, agreement); None: sentence-transformers
    vector_index: str | None = None  # the FAISS index description ("IDMap2,Flat", "IVF2048,SQ8", ...)
    vector_index_exact: bool | None = None  # exact search (flat, float32), or approximate / compact codes
    precision: str | None = None  # how the last run encoded passages (fp32 | bf16)
    model_files: str | None = None  # the shared model files (lean query encoder, OpenVINO IR) on this machine
    model_files_bytes: int = 0  # their size, not part of size_bytes: every index of the model shares them
    store: str | None = None  # where passages and vectors live when not in the folder ("milvus:URI#collection")
    # a Milvus Lite file's size on disk (every collection in it: other indexes may share the file), not part of
    # size_bytes; None without an outside store, or for a server, whose storage the engine manages
    store_bytes: int | None = None
    fusion: str | None = None  # the hybrid fusion the model recommends (its semsearch.json); None: rrf:10

    def to_dict(self) -> dict:
        return asdict(self)


def describe_index(directory: str | Path | None = None) -> IndexInfo:
    directory = resolve_dir(directory)
    reader = open_reader(directory)
    try:
        m = reader.manifest
        lexical = reader.store.count() if m.store else \
            reader.store.conn.execute("SELECT count(*) FROM passages_fts_docsize").fetchone()[0]
        size = disk_usage(directory)
        shared = shared_model_files(m.model.fingerprint)
        return IndexInfo(
            str(directory), m.model.id, m.model.dimension, m.model.max_tokens, dict(m.model.prompts),
            m.counts.documents, m.counts.passages, m.counts.vectors, m.counts.vectors > 0,
            lexical == m.counts.passages and m.counts.passages > 0, size, m.created, m.updated,
            str(m.generation), dict(m.chunker), m.format_version,
            dict(m.query_encoder) if m.query_encoder else None, (m.faiss or {}).get("description"),
            (m.faiss or {}).get("exact"), m.precision, str(shared.directory) if shared else None,
            shared.size_bytes() if shared else 0,
            f"{m.store['kind']}:{m.store['uri']}#{m.store.get('active')}" if m.store else None,
            store_file_usage(m.store), m.model.fusion,
        )
    finally:
        reader.close()


def disk_usage(directory: Path) -> int:
    """Bytes the index folder takes on disk (every generation kept, the lock file and leftovers included)."""
    total = 0
    for path in directory.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_blocks * 512
        except OSError:
            continue
    return total


def store_file_usage(store: dict | None) -> int | None:
    """Bytes a Milvus Lite file (or folder) takes on disk; None for no outside store or a server."""
    from index.stores.base import StoreSpec

    spec = StoreSpec.from_manifest(store)
    if spec.is_local or spec.is_server or not spec.uri:
        return None
    path = Path(spec.uri)
    try:
        return disk_usage(path) if path.is_dir() else path.stat().st_blocks * 512
    except OSError:
        return None


def shared_model_files(fingerprint: str | None):
    if not fingerprint:
        return None
    from embed.encode.derived import derived_for

    return derived_for(fingerprint)
