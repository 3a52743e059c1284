"""The benchmark index cache: one index per (dataset files, model, settings), built once, then reused.

Layout: ``<root>/<key>/index/`` (a normal semsearch index) and ``<root>/<key>/bench-cache.json`` (what
the key was made of, and the build's counts and timing, so that cached runs still report throughput).
The metadata is written last: a build that was interrupted, or that could not load the model, is
never taken for a cached one. The root is ``--cache-dir`` or ``$XDG_CACHE_HOME/semsearch/bench``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from embed.records import ChunkerSettings, Document
from index.storage.atomic import write_json_atomic
from index.evaluate.results import BenchOptions, IndexStats, PhaseProgress
from index.errors import IndexCorrupt, IndexNotFound
from index.storage.manifest import FORMAT_VERSION, read_manifest

CACHE_VERSION = 1  # bump when anything the bench puts into its index changes
META_NAME = "bench-cache.json"


def cache_root(override: str | Path | None = None) -> Path:
    if override is not None:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "semsearch" / "bench"


def dataset_files(dataset: Path) -> list[Path]:
    """The files the indexed corpus is read from (queries and qrels are re-read on every run)."""
    return [dataset / "corpus.jsonl"] if dataset.is_dir() else [dataset]


def key_fields(dataset: Path, encoder, options: BenchOptions) -> dict:
    """Everything that decides what the index holds; its hash names the cache folder."""
    files = []
    for path in dataset_files(dataset.resolve()):
        stat = path.stat()
        files.append([str(path), stat.st_size, stat.st_mtime_ns])
    return {
        "dataset": str(dataset.resolve()),
        "files": files,
        "model": getattr(encoder, "model_id", None),  # None: lexical-only, no model involved
        "model_fingerprint": getattr(encoder, "fingerprint", None) if encoder is not None else None,
        "lexical_only": encoder is None,
        "chunker": "model-tokenizer" if encoder is not None else "approx",
        "chunker_version": ChunkerSettings(max_tokens=1).version,
        "min_tokens": options.min_tokens,
        "title_in_text": options.title_in_text and encoder is not None,
        "index_options": index_settings(encoder, options),
        "index_format_version": FORMAT_VERSION,
        "cache_version": CACHE_VERSION,
    }


def cache_key(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()[:20]


def prepare_index(
    dataset: Path, documents: Sequence[Document], encoder, options: BenchOptions, progress: PhaseProgress | None
) -> IndexStats:
    """The cached index for this key, or a freshly built one (timed) that is then recorded as cached."""
    fields = key_fields(dataset, encoder, options)
    folder = cache_root(options.cache_dir) / cache_key(fields)
    index_dir = folder / "index"
    meta = read_meta(folder, fields, index_dir)
    if meta is not None:
        return stats_from(meta, index_dir, cached=True)
    meta = build(documents, index_dir, encoder, options, progress)
    meta["key"] = fields
    write_json_atomic(folder / META_NAME, meta)
    return stats_from(meta, index_dir, cached=False)


def index_options(encoder, options: BenchOptions):
    from index.build.builder import IndexOptions

    return IndexOptions(
        model=encoder.model_id if encoder is not None else None, rebuild=True,
        batch_size=options.index_batch_size, min_tokens=options.min_tokens, lexical_only=encoder is None,
        index_type=options.index_type, vectors=options.vectors, store=options.store,
    )


def index_settings(encoder, options: BenchOptions) -> dict:
    """The builder's options that shape the index (precision, index type, ... as the builder has them)."""
    ignored = {"model", "rebuild", "wait", "batch_size", "ray", "ray_workers"}  # model: keyed on its own; rest: how
    settings = {k: v for k, v in sorted(asdict(index_options(encoder, options)).items()) if k not in ignored}
    if settings.get("store") is None:  # the local store: keys as before stores existed (caches stay valid)
        settings.pop("store", None)
    return settings


def build(documents, index_dir: Path, encoder, options: BenchOptions, progress) -> dict:
    from embed.errors import ModelUnavailable
    from index.build.builder import index_documents

    if progress:
        progress("building the index", 0, 1)  # a bar with a clock; the builder adds its own for encoding
    report = index_documents(documents, index_dir, index_options(encoder, options), progress)
    if progress:
        progress("building the index", 1, 1)
    if encoder is not None and report.model_notice:  # loaded once already, so this is rare
        raise ModelUnavailable(encoder.model_id, report.model_notice)
    manifest = read_manifest(index_dir)
    return {
        "documents": report.documents, "passages": report.passages, "vectors": report.vectors,
        "seconds": report.seconds, "passages_per_s": report.passages / report.seconds if report.seconds else 0.0,
        "model": encoder.model_id if encoder is not None else None, "chunker": dict(manifest.chunker),
        "precision": getattr(manifest, "precision", None), "faiss": dict(manifest.faiss),
    }


def read_meta(folder: Path, fields: dict, index_dir: Path) -> dict | None:
    """The recorded build of this key, when it is complete and the index still agrees with it."""
    try:
        meta = json.loads((folder / META_NAME).read_text(encoding="utf-8"))
        manifest = read_manifest(index_dir)
    except (OSError, ValueError, IndexNotFound, IndexCorrupt):
        return None
    counts = manifest.counts
    if meta.get("key") != fields or (counts.documents, counts.passages, counts.vectors) != (
        meta.get("documents"), meta.get("passages"), meta.get("vectors")
    ):
        return None
    return meta


def stats_from(meta: dict, index_dir: Path, cached: bool) -> IndexStats:
    return IndexStats(
        directory=str(index_dir), cached=cached, documents=meta["documents"], passages=meta["passages"],
        vectors=meta["vectors"], seconds=meta["seconds"], passages_per_s=meta["passages_per_s"],
        size_bytes=size_on_disk(index_dir), model=meta["model"], chunker=meta["chunker"],
        precision=meta.get("precision"), faiss=(meta.get("faiss") or {}).get("description") if meta["model"] else None,
    )


def size_on_disk(index_dir: Path) -> int:
    """Bytes of the index: its current generation's files and the manifest."""
    manifest = read_manifest(index_dir)
    gen_dir = index_dir / str(manifest.generation)
    files = [p for p in gen_dir.iterdir() if p.is_file()] + [index_dir / "manifest.json"]
    return sum(p.stat().st_size for p in files)

