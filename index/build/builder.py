"""`semsearch index`: bring an index up to date with a set of files, incrementally and atomically."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from embed.errors import UnreadableFile
from embed.records import ChunkerSettings, Document
from index.ann.factory import PreviousAnn, update_ann
from index.ann.spec import AnnSpec, check_index_options
from index.ann.vectors import load_array, save_array
from index.build.model import (
    check_same_model, choose_model, chunker_for, chunker_key, model_info, open_model, query_encoder_record,
)
from index.build.sync import documents_unchanged, sync_documents
from index.errors import BadQuery, IndexCorrupt, IndexNotFound, NothingToIndex, unwritable
from index.storage.atomic import fsync_path
from index.storage.layout import next_generation, remove_stale_generations, writer_lock
from index.storage.manifest import Counts, Manifest, ModelInfo, read_manifest, write_manifest
from index.storage.store import Store, connect
from index.stores.base import StoreSpec, parse_store

# phase ("reading" | "encoding"), done, total
PhaseProgress = Callable[[str, int, int], None]
PAUSE_ENV = "SEMSEARCH_TEST_PAUSE_AT"  # tests: stop at a named checkpoint so a kill lands there


def checkpoint(name: str) -> None:
    """Test hook: when $SEMSEARCH_TEST_PAUSE_AT names this point, announce it on stderr and wait."""
    if os.environ.get(PAUSE_ENV) == name:
        sys.stderr.write(f"checkpoint {name}\n")
        sys.stderr.flush()
        time.sleep(60)


@dataclass(frozen=True)
class IndexOptions:
    model: str | None = None  # None: the index's own model, else SEMSEARCH_MODEL, else the default
    rebuild: bool = False
    wait: bool = False
    batch_size: int = 32
    min_tokens: int = 48
    lexical_only: bool = False  # store passages and BM25 only; never load the model
    precision: str = "auto"  # auto | fp32 | bf16: passage encoding (auto: what OpenVINO picks for the CPU)
    index_type: str = "auto"  # auto | flat | hnsw | ivf (index/ann/spec.py)
    vectors: str = "auto"  # auto | fp32 | fp16 | sq8: the codes the FAISS index keeps
    store: str | None = None  # None: the index's own store (a new index: local); "milvus:..." (index/stores)
    ray: str | None = None  # encode on Ray: "local" (start one here) or a cluster address; None: in-process
    ray_workers: int | None = None  # Ray actors, one CPU each (None: every CPU of a local Ray)

    def __post_init__(self) -> None:  # bad values fail here, before any work
        from embed.encode.precision import check_precision

        check_index_options(self.index_type, self.vectors)  # UnknownIndexOption
        try:
            check_precision(self.precision)
        except ValueError as exc:
            raise BadQuery(str(exc)) from None
        if self.store is not None:
            parse_store(self.store)  # BadStore


@dataclass(frozen=True)
class Skipped:
    path: str  # a file, a folder, or file:line (a jsonl line)
    reason: str
    kind: str = "skipped"  # "skipped": left out (counted); "note": read, with a warning (bytes replaced, ...)


@dataclass(frozen=True)
class IndexReport:
    directory: str
    model: str
    added: int
    updated: int
    removed: int
    unchanged: int
    encoded: int
    documents: int
    passages: int
    vectors: int
    skipped: list[Skipped] = field(default_factory=list)
    model_notice: str | None = None
    seconds: float = 0.0
    query_encoder_notice: str | None = None  # why passages or questions go through sentence-transformers

    def to_dict(self) -> dict:
        return asdict(self)


def read_previous(directory: Path, rebuild: bool) -> Manifest | None:
    try:
        return read_manifest(directory)
    except IndexNotFound:
        return None
    except IndexCorrupt:
        if rebuild:
            return None
        raise


def build_index(
    paths: Sequence[str | Path],
    directory: str | Path,
    options: IndexOptions = IndexOptions(),
    progress: PhaseProgress | None = None,
) -> IndexReport:
    """Index ``paths`` into ``directory``; re-embed only what changed; swap in the result atomically.

    Documents that vanished from under ``paths`` are removed; documents from other paths are kept.
    """
    from embed.text.documents import find_sources

    problems: list = []  # folders that could not be listed
    sources = find_sources(paths, problems, recorded_sources(Path(directory)))  # PathNotFound before any write
    roots = [Path(p).resolve() for p in paths]

    def gather():
        documents, skipped = read_documents(sources, progress, problems)
        if not documents and not (Path(directory) / "manifest.json").exists():
            raise NothingToIndex(" ".join(str(p) for p in paths), len(skipped))
        return documents, skipped

    return update_index(directory, options, progress, gather, roots, {s.label: s.root for s in sources})


def recorded_sources(directory: Path) -> dict[str, str]:
    """The source-key prefixes the index at ``directory`` records (none when there is no readable index)."""
    try:
        return dict(read_manifest(directory).sources)
    except (IndexNotFound, IndexCorrupt):
        return {}


def index_documents(
    documents: Sequence[Document],
    directory: str | Path,
    options: IndexOptions = IndexOptions(),
    progress: PhaseProgress | None = None,
) -> IndexReport:
    """Make ``directory`` hold exactly ``documents`` (e.g. a benchmark corpus), incrementally."""
    return update_index(directory, options, progress, lambda: (list(documents), []), None)


def update_index(
    directory, options: IndexOptions, progress, gather, scope: list[Path] | None, sources: dict[str, str] | None = None
) -> IndexReport:
    """The shared writer: lock, read, and when anything changed pick the model and write a new generation.

    A run that changes nothing loads no model and writes nothing: it hashes the files and stops.
    """
    started = time.perf_counter()
    directory = Path(directory)
    with writer_lock(directory, wait=options.wait):
        old = read_previous(directory, options.rebuild)
        remove_stale_generations(directory, keep={str(old.generation) if old else ""})  # killed runs' leftovers
        model = choose_model(old, options.model, options.rebuild, directory)
        spec = choose_store(directory, old, options)
        documents, skipped = gather()
        if old is not None and not options.rebuild and nothing_changed(directory, old, options, documents, scope):
            counts = old.counts
            return IndexReport(
                str(directory), model, 0, 0, 0, counts.passages, 0, counts.documents, counts.passages, counts.vectors,
                skipped, seconds=round(time.perf_counter() - started, 3),
            )
        opened, notice = (None, None) if options.lexical_only else open_model(model, options.precision)
        encoder = opened.encoder if opened is not None else None
        if encoder is not None and old is not None and not options.rebuild:
            check_same_model(directory, old.model, encoder)
        counter, settings = chunker_for(encoder, old, options.min_tokens)
        gen = next_generation(directory)
        gen_dir = directory / gen
        store = open_outside_store(spec, options, directory)  # None: the generation folder holds FAISS + SQLite
        try:
            base = old if not options.rebuild else None
            if store is None:
                report = GenerationJob(directory, gen_dir, base, encoder, options, progress).write(
                    documents, scope, counter, settings)
            else:
                report = write_to_store(store, (directory, gen_dir, base, old), encoder, options, progress,
                                        (documents, scope, counter, settings))
        except BaseException as exc:
            if store is not None:
                store.close()
            shutil.rmtree(gen_dir, ignore_errors=True)
            error = environment_error(directory, old, exc)
            if error is exc:
                raise
            raise error from exc
        checkpoint("before-manifest")
        new = finish_manifest(old, options, model, encoder, settings, gen, report.counts)
        new = replace(new, sources={**new.sources, **(sources or {})})
        if encoder is not None:
            new = replace(new, query_encoder=query_encoder_record(opened), precision=encoder.precision)
        try:
            write_manifest(directory, replace(new, faiss=report.faiss, store=report.store))
        except OSError as exc:  # disk full at the last step: the old manifest still names the old generation
            shutil.rmtree(gen_dir, ignore_errors=True)
            raise unwritable(str(directory), exc) from exc
        checkpoint("after-manifest")
        remove_stale_generations(directory, keep={gen, str(old.generation) if old else ""})
        if store is not None:  # rows only older generations saw (a reader of the previous one may still run)
            store.release(int(str(old.generation).rsplit("-", 1)[-1]) if old is not None else 0)
            store.close()
        shutil.rmtree(directory / "lean", ignore_errors=True)  # per-index model copies of older versions
    added, updated, removed, unchanged = report.diff
    return IndexReport(
        directory=str(directory), model=model, added=added, updated=updated, removed=removed,
        unchanged=unchanged, encoded=report.encoded, documents=report.counts.documents,
        passages=report.counts.passages, vectors=report.counts.vectors, skipped=skipped,
        model_notice=notice, seconds=round(time.perf_counter() - started, 3),
        query_encoder_notice=opened.notice if opened is not None else None,
    )


def environment_error(directory: Path, old: Manifest | None, exc: BaseException) -> BaseException:
    """What a failed generation write is to the user: the previous generation's file that could not be
    read (IndexCorrupt), a disk or permission problem (IndexUnwritable), or ``exc`` itself."""
    old_dir = directory / str(old.generation) if old is not None else None
    if isinstance(exc, sqlite3.DatabaseError) and old_dir is not None:
        return IndexCorrupt(str(directory), f"cannot read {old.generation}/{old.files['passages']} ({exc})")
    if isinstance(exc, (OSError, ValueError)) and old_dir is not None and str(getattr(exc, "filename", "") or "").startswith(str(old_dir)):
        return IndexCorrupt(str(directory), f"cannot read {Path(exc.filename).relative_to(directory)} ({exc})")
    if isinstance(exc, OSError):
        return unwritable(str(directory), exc)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, RuntimeError) and "write" in text.lower():  # faiss reports a failed write this way
        full = shutil.disk_usage(directory).free < 2**20
        return unwritable(str(directory), OSError(errno.ENOSPC if full else errno.EIO, text))
    if isinstance(exc, RuntimeError) and "read" in text.lower() and old_dir is not None:  # a damaged faiss.index
        return IndexCorrupt(str(directory), f"cannot read {old.generation}/{old.files['faiss']} ({text})")
    return exc


def choose_store(directory: Path, old: Manifest | None, options: IndexOptions) -> StoreSpec:
    """--store, else the store the index records (a new index: local). Moving an index to another store
    re-embeds it, so that takes --rebuild."""
    recorded = StoreSpec.from_manifest(old.store) if old is not None else StoreSpec()
    if options.store is None:
        spec = recorded
    else:
        spec = parse_store(options.store).for_index(directory)
        if recorded.kind == spec.kind and recorded.uri == spec.uri and recorded.collection:
            spec = recorded  # the same store: keep its collection
    if old is not None and not options.rebuild and spec != recorded:
        raise BadQuery(f"the index at {directory} keeps its passages in {recorded.describe()}, not "
                       f"{spec.describe()}; drop --store to keep it there, or pass --rebuild to move it")
    if options.ray and spec.is_local:
        raise BadQuery("--ray sends vectors to a --store such as milvus:./vectors.db; the local store encodes here")
    return spec


def open_outside_store(spec: StoreSpec, options: IndexOptions, directory: Path):
    """The backend a run writes to, or None for the local generation folder (index/stores)."""
    if spec.is_local:
        return None
    from index.stores import open_store

    return open_store(spec, options.index_type, options.vectors, owner=str(directory.resolve()))


def write_to_store(store, where, encoder, options: IndexOptions, progress, work) -> GenerationReport:
    """The generation written to an outside store (index/build/remote.py), reported as the local job does."""
    from index.build.remote import RemoteGenerationJob

    directory, gen_dir, base, live = where
    encode = lambda texts: encode_texts(encoder, texts, options, progress)  # noqa: E731
    done = RemoteGenerationJob(directory, gen_dir, base, live, store, encoder, encode, checkpoint).write(*work)
    return GenerationReport(done.diff, done.encoded, done.counts, done.description, done.store)


def encode_texts(encoder, texts: list[str], options: IndexOptions, progress) -> np.ndarray:
    """Vectors for ``texts``: in this process (longest first), or on a Ray actor pool (--ray)."""
    if not options.ray:
        return encode_sorted(encoder, texts, options.batch_size, progress)
    from embed.encode.ray_pool import encode_with_ray

    def hook(done: int, total: int) -> None:
        if progress:
            progress("encoding", done, total)
        checkpoint("encoding")

    return encode_with_ray(texts, encoder.model_id, address=options.ray, workers=options.ray_workers,
                           batch_size=options.batch_size, options={"precision": options.precision}, progress=hook)


def nothing_changed(directory: Path, old: Manifest, options: IndexOptions, documents, scope) -> bool:
    """True when this run would write what the index already holds: same documents (by content hash and
    chunker), every passage with a vector (or no model wanted), the same vector-index options."""
    if not old.chunker or (old.counts.vectors < old.counts.passages and not options.lexical_only):
        return False
    requested = AnnSpec.from_manifest(old.faiss).requested
    for key in ("index_type", "vectors"):
        value = getattr(options, key)
        if value != "auto" and requested.get(key) != value:
            return False
    db_path = directory / str(old.generation) / old.files["passages"]
    try:
        store = Store(connect(db_path, readonly=True))
        try:
            return documents_unchanged(store.documents(), documents, scope, chunker_key(old.chunker))
        finally:
            store.close()
    except sqlite3.Error:  # a damaged store: the full run reports it
        return False


def finish_manifest(old, options, model, encoder, settings, gen, counts: Counts) -> Manifest:
    if encoder is not None:
        info = model_info(encoder)
    elif old is not None and not options.rebuild:
        info = old.model
    else:
        info = ModelInfo(model)
    base = old if old is not None and not options.rebuild else Manifest(model=info, chunker={})
    previous = str(old.generation) if old is not None else None
    return base.touched(
        model=info, chunker=asdict(settings), counts=counts, generation=gen, previous_generation=previous
    )


@dataclass(frozen=True)
class GenerationReport:
    diff: tuple[int, int, int, int]  # added, updated, removed, unchanged
    encoded: int
    counts: Counts
    faiss: dict = field(default_factory=lambda: AnnSpec().to_manifest())
    store: dict | None = None  # the manifest's "store" (None: the local generation folder)


@dataclass(frozen=True)
class GenerationJob:
    directory: Path
    gen_dir: Path
    old: Manifest | None
    encoder: object
    options: IndexOptions
    progress: PhaseProgress | None

    def write(self, documents: Sequence[Document], scope, counter, settings: ChunkerSettings) -> GenerationReport:
        """Write the complete new generation folder (nothing visible until the manifest names it)."""
        self.gen_dir.mkdir(parents=True)
        db_path = self.gen_dir / "passages.sqlite"
        if self.old is not None:
            shutil.copyfile(self.directory / str(self.old.generation) / self.old.files["passages"], db_path)
        store = Store(connect(db_path))
        checkpoint("db-copied")
        try:
            old_vectors = read_old_vectors(self.directory, self.old, store)
            sync = sync_documents(store, documents, scope, counter, settings, chunker_key(settings))
            vectors, ids, encoded = assemble_vectors(
                store, old_vectors, self.encoder, self.options.batch_size, self.progress
            )
            checkpoint("before-commit")
            store.conn.commit()
            counts = Counts(store.count("documents"), store.count("passages"), len(ids))
        finally:
            store.close()
        save_array(self.gen_dir / "vectors.npy", vectors)
        save_array(self.gen_dir / "vector_ids.npy", ids)
        checkpoint("arrays-written")
        spec = AnnSpec()
        if len(ids):
            index, spec = update_ann(self.previous_ann(), vectors, ids, self.options.index_type, self.options.vectors)
            index.save(self.gen_dir / "faiss.index")
        for path in self.gen_dir.iterdir():
            fsync_path(path)
        fsync_path(self.gen_dir)
        return GenerationReport(sync.diff, encoded, counts, spec.to_manifest())

    def previous_ann(self) -> PreviousAnn | None:
        """The previous generation's FAISS index and vectors, for an incremental update (index/ann.py)."""
        if self.old is None or not self.old.counts.vectors:
            return None
        old_dir = self.directory / str(self.old.generation)
        return PreviousAnn(
            AnnSpec.from_manifest(self.old.faiss), old_dir / self.old.files["faiss"],
            load_array(old_dir / self.old.files["vectors"], mmap=True), load_array(old_dir / self.old.files["vector_ids"]),
        )


def read_documents(sources: list, progress: PhaseProgress | None, problems=()) -> tuple[list[Document], list[Skipped]]:
    """Documents of ``sources`` (embed.text.documents.SourceFile); unreadable files, folders and lines skipped."""
    from embed.text.documents import display_path, read_file

    documents: list[Document] = []
    skipped: list[Skipped] = [Skipped(problem.path, problem.reason) for problem in problems]
    for done, source in enumerate(sources, 1):
        try:
            loaded = read_file(source)
            documents.extend(loaded.documents)
            skipped.extend(Skipped(n.where, n.message, "skipped" if n.skipped else "note") for n in loaded.notes)
        except UnreadableFile as exc:
            skipped.append(Skipped(display_path(source.path), exc.reason))
        if progress:
            progress("reading", done, len(sources))
    return documents, skipped


def read_old_vectors(directory: Path, old: Manifest | None, store: Store) -> dict[str, np.ndarray]:
    """digest -> vector for every passage of the previous generation that has one."""
    if old is None or not old.counts.vectors:
        return {}
    gen_dir = directory / str(old.generation)
    try:
        vectors = load_array(gen_dir / old.files["vectors"])
        ids = load_array(gen_dir / old.files["vector_ids"])
    except (OSError, ValueError) as exc:  # numpy: "Failed to read all data for array ..."
        raise IndexCorrupt(str(directory), f"cannot read {old.generation}/{old.files['vectors']} ({exc})") from exc
    digest_of = dict(store.pks_and_digests())
    return {digest_of[int(pk)]: vectors[i] for i, pk in enumerate(ids) if int(pk) in digest_of}


def assemble_vectors(store: Store, old_vectors, encoder, batch_size: int, progress):
    """Vectors for every passage: reused by content hash, encoded only when new (and a model is loaded)."""
    rows = store.pks_and_digests()
    todo = [(pk, digest) for pk, digest in rows if digest not in old_vectors]
    fresh: dict[str, np.ndarray] = {}
    if encoder is not None and todo:
        texts_by_digest = dict(store.conn.execute("SELECT digest, text FROM passages"))
        digests = list(dict.fromkeys(d for _, d in todo))
        encoded = encode_sorted(encoder, [texts_by_digest[d] for d in digests], batch_size, progress)
        fresh = dict(zip(digests, encoded))
    known = {**old_vectors, **fresh}
    keep = [(pk, known[d]) for pk, d in rows if d in known]
    dim = encoder.dimension if encoder is not None else (len(next(iter(known.values()))) if known else 0)
    if not keep:
        return np.zeros((0, dim), dtype=np.float32), np.zeros(0, dtype=np.int64), len(fresh)
    ids = np.array([pk for pk, _ in keep], dtype=np.int64)
    vectors = np.ascontiguousarray(np.stack([v for _, v in keep]), dtype=np.float32)
    return vectors, ids, len(fresh)


def encode_sorted(encoder, texts: list[str], batch_size: int, progress) -> np.ndarray:
    """Encode longest-first (batches of similar length pad less), return rows in the input order."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    def hook(done: int, total: int) -> None:
        if progress:
            progress("encoding", done, total)
        checkpoint("encoding")

    encoded = encoder.encode_documents([texts[i] for i in order], batch_size=batch_size, progress=hook)
    out = np.empty_like(encoded)
    out[order] = encoded
    return out
