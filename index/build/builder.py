"""`semsearch index`: bring an index up to date with a set of files, incrementally and atomically."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from embed.errors import ModelUnavailable, UnreadableFile
from embed.records import ChunkerSettings, Document
from index.storage.atomic import fsync_path
from index.errors import BadQuery, IndexCorrupt, IndexNotFound, ModelMismatch
from index.storage.layout import next_generation, remove_stale_generations, writer_lock
from index.storage.manifest import Counts, Manifest, ModelInfo, read_manifest, write_manifest
from index.search.query_encoder import lean_for_generation, prune_lean, record_query_encoder
from index.storage.store import Store, connect
from index.build.sync import sync_documents
from index.ann.factory import PreviousAnn, update_ann
from index.ann.spec import AnnSpec, check_index_options
from index.ann.vectors import load_array, save_array

# phase ("reading" | "encoding"), done, total
PhaseProgress = Callable[[str, int, int], None]
APPROX_MAX_TOKENS = 256
PAUSE_ENV = "SEMSEARCH_TEST_PAUSE_AT"  # tests: stop at a named checkpoint so a kill lands there


def checkpoint(name: str) -> None:
    """Test hook: when $SEMSEARCH_TEST_PAUSE_AT names this point, announce it on stderr and wait."""
    if os.environ.get(PAUSE_ENV) == name:
        sys.stderr.write(f"checkpoint {name}\n")
        sys.stderr.flush()
        time.sleep(60)


def check_precision(requested: str) -> None:
    """BadQuery for an unknown precision (without resolving "auto", which reads the CPU flags)."""
    from embed.encode.precision import check_precision as check

    try:
        check(requested)
    except ValueError as exc:
        raise BadQuery(str(exc)) from None


def choose_precision(encoder, requested: str) -> str | None:
    """"fp32" | "bf16" for encoding passages (None without a model); ``requested`` was checked by IndexOptions."""
    if encoder is None:
        return None
    from embed.encode.precision import resolve_precision

    return resolve_precision(requested, str(getattr(getattr(encoder, "model", None), "device", "cpu")))


@dataclass(frozen=True)
class IndexOptions:
    model: str | None = None  # None: the index's own model, else SEMSEARCH_MODEL, else the default
    rebuild: bool = False
    wait: bool = False
    batch_size: int = 32
    min_tokens: int = 48
    lexical_only: bool = False  # store passages and BM25 only; never load the model
    precision: str = "auto"  # auto | fp32 | bf16: passage encoding (auto: bf16 on CPUs with AMX / AVX-512 BF16)
    index_type: str = "auto"  # auto | flat | hnsw | ivf (index/ann.py)
    vectors: str = "auto"  # auto | fp32 | fp16 | sq8: the codes the FAISS index keeps

    def __post_init__(self) -> None:  # bad values fail here, before any work
        check_index_options(self.index_type, self.vectors)  # UnknownIndexOption
        check_precision(self.precision)  # BadQuery


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


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
    query_encoder_notice: str | None = None  # why no lean query encoder was recorded (index/query_encoder.py)

    def to_dict(self) -> dict:
        return asdict(self)


def normalise_model_name(name: str) -> str:
    """A local model directory is recorded by its absolute path; a hub id as given."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


def choose_model(old: Manifest | None, options: IndexOptions, directory: Path) -> str:
    from embed.encode.models import DEFAULT_MODEL

    requested = options.model or os.environ.get("SEMSEARCH_MODEL") or None
    requested = normalise_model_name(requested) if requested else None
    if old is None or options.rebuild:
        return requested or DEFAULT_MODEL
    if requested and requested != old.model.id:
        raise ModelMismatch(str(directory), old.model.id, requested)
    return old.model.id


def read_previous(directory: Path, rebuild: bool) -> Manifest | None:
    try:
        return read_manifest(directory)
    except IndexNotFound:
        return None
    except IndexCorrupt:
        if rebuild:
            return None
        raise


def load_model(model: str):
    """(encoder, notice): the encoder, or None and the ModelUnavailable text explaining the fixes."""
    from embed.encode.sentence_transformers import load_encoder

    try:
        return load_encoder(model), None
    except ModelUnavailable as exc:
        return None, str(exc)


def chunker_for(encoder, old: Manifest | None, options: IndexOptions):
    """(counter, settings): the model's own tokenizer, or the offline approximation."""
    if encoder is not None:
        settings = ChunkerSettings(encoder.passage_budget(), options.min_tokens, encoder.model_id)
        return encoder.counter, settings
    from embed.text.approx import ApproxCounter

    max_tokens = (old.model.max_tokens if old and old.model.max_tokens else APPROX_MAX_TOKENS) - 2
    return ApproxCounter(), ChunkerSettings(max_tokens, options.min_tokens, "approx")


def build_index(
    paths: Sequence[str | Path],
    directory: str | Path,
    options: IndexOptions = IndexOptions(),
    progress: PhaseProgress | None = None,
) -> IndexReport:
    """Index ``paths`` into ``directory``; re-embed only what changed; swap in the result atomically.

    Documents that vanished from under ``paths`` are removed; documents from other paths are kept.
    """
    from embed.text.documents import discover_files

    files = discover_files(paths)  # PathNotFound before anything is touched
    roots = [Path(p).resolve() for p in paths]
    return update_index(directory, options, progress, lambda: read_documents(files, progress), roots)


def index_documents(
    documents: Sequence[Document],
    directory: str | Path,
    options: IndexOptions = IndexOptions(),
    progress: PhaseProgress | None = None,
) -> IndexReport:
    """Make ``directory`` hold exactly ``documents`` (e.g. a benchmark corpus), incrementally."""
    return update_index(directory, options, progress, lambda: (list(documents), []), None)


def update_index(directory, options: IndexOptions, progress, gather, scope: list[Path] | None) -> IndexReport:
    """The shared writer: lock, pick the model, write a whole new generation, swap the manifest."""
    started = time.perf_counter()
    directory = Path(directory)
    with writer_lock(directory, wait=options.wait):
        old = read_previous(directory, options.rebuild)
        model = choose_model(old, options, directory)
        encoder, notice = (None, None) if options.lexical_only else load_model(model)
        precision = choose_precision(encoder, options.precision)
        if encoder is not None and old is not None and not options.rebuild:
            check_same_model(directory, old.model, encoder)
        counter, settings = chunker_for(encoder, old, options)
        gen = next_generation(directory)
        gen_dir = directory / gen
        try:
            job = GenerationJob(directory, gen_dir, old if not options.rebuild else None, encoder, options, progress)
            report = job.write(gather, scope, counter, settings, precision)
            lean = lean_for_generation(directory, gen_dir, encoder)
        except BaseException:
            shutil.rmtree(gen_dir, ignore_errors=True)
            raise
        checkpoint("before-manifest")
        new = finish_manifest(old, options, model, encoder, settings, gen, report.counts)
        new = record_query_encoder(new, encoder, lean.record, precision)
        new = replace(new, faiss=report.faiss)
        write_manifest(directory, new)
        checkpoint("after-manifest")
        remove_stale_generations(directory, keep={gen, str(old.generation) if old else ""})
        if encoder is not None:
            prune_lean(directory, getattr(encoder, "fingerprint", None))
    added, updated, removed, unchanged = report.diff
    return IndexReport(
        directory=str(directory), model=model, added=added, updated=updated, removed=removed,
        unchanged=unchanged, encoded=report.encoded, documents=report.counts.documents,
        passages=report.counts.passages, vectors=report.counts.vectors, skipped=report.skipped,
        model_notice=notice, seconds=round(time.perf_counter() - started, 3),
        query_encoder_notice=lean.note if encoder is not None else None,
    )


def check_same_model(directory: Path, recorded: ModelInfo, encoder) -> None:
    if recorded.dimension not in (None, encoder.dimension) or (
        recorded.fingerprint and getattr(encoder, "fingerprint", None) not in (None, recorded.fingerprint)
    ):
        raise ModelMismatch(str(directory), f"{recorded.id} (as it was when indexed)", f"{encoder.model_id} (changed)")


def finish_manifest(old, options, model, encoder, settings, gen, counts: Counts) -> Manifest:
    if encoder is not None:
        info = ModelInfo(
            encoder.model_id, encoder.dimension, encoder.max_tokens, dict(encoder.prompts),
            getattr(encoder, "fingerprint", None),
        )
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
    skipped: list[Skipped]
    faiss: dict = field(default_factory=lambda: AnnSpec().to_manifest())


@dataclass(frozen=True)
class GenerationJob:
    directory: Path
    gen_dir: Path
    old: Manifest | None
    encoder: object
    options: IndexOptions
    progress: PhaseProgress | None

    def write(self, gather, scope, counter, settings: ChunkerSettings, precision: str | None = None) -> GenerationReport:
        """Write the complete new generation folder (nothing visible until the manifest names it)."""
        self.gen_dir.mkdir(parents=True)
        db_path = self.gen_dir / "passages.sqlite"
        if self.old is not None:
            shutil.copyfile(self.directory / str(self.old.generation) / self.old.files["passages"], db_path)
        store = Store(connect(db_path))
        checkpoint("db-copied")
        try:
            old_vectors = read_old_vectors(self.directory, self.old, store)
            documents, skipped = gather()
            chunker_key = json.dumps(asdict(settings), sort_keys=True)
            sync = sync_documents(store, documents, scope, counter, settings, chunker_key)
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
        return GenerationReport(sync.diff, encoded, counts, skipped, spec.to_manifest())

    def previous_ann(self) -> PreviousAnn | None:
        """The previous generation's FAISS index and vectors, for an incremental update (index/ann.py)."""
        if self.old is None or not self.old.counts.vectors:
            return None
        old_dir = self.directory / str(self.old.generation)
        return PreviousAnn(
            AnnSpec.from_manifest(self.old.faiss), old_dir / self.old.files["faiss"],
            load_array(old_dir / self.old.files["vectors"], mmap=True), load_array(old_dir / self.old.files["vector_ids"]),
        )


def read_documents(files: list[Path], progress: PhaseProgress | None) -> tuple[list[Document], list[Skipped]]:
    from embed.text.documents import display_path, load_documents

    documents: list[Document] = []
    skipped: list[Skipped] = []
    for done, path in enumerate(files, 1):
        try:
            documents.extend(load_documents(path))
        except UnreadableFile as exc:
            skipped.append(Skipped(display_path(path), exc.reason))
        if progress:
            progress("reading", done, len(files))
    return documents, skipped


def read_old_vectors(directory: Path, old: Manifest | None, store: Store) -> dict[str, np.ndarray]:
    """digest -> vector for every passage of the previous generation that has one."""
    if old is None or not old.counts.vectors:
        return {}
    gen_dir = directory / str(old.generation)
    vectors = load_array(gen_dir / old.files["vectors"])
    ids = load_array(gen_dir / old.files["vector_ids"])
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
