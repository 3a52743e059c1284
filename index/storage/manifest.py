"""The index manifest: one JSON file naming the current generation and everything needed to reuse it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from index.storage.atomic import write_json_atomic
from index.errors import IndexCorrupt, IndexNotFound

FORMAT = "semsearch-index"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
LEXICAL_TOKENIZE = "porter unicode61 remove_diacritics 2"


@dataclass(frozen=True)
class ModelInfo:
    id: str
    dimension: int | None = None  # None until the model has been loaded once
    max_tokens: int | None = None
    prompts: dict[str, str] = field(default_factory=dict)
    fingerprint: str | None = None
    fusion: str | None = None  # the hybrid fusion the model folder recommends (index/search/model_fusion.py)


@dataclass(frozen=True)
class Counts:
    documents: int = 0
    passages: int = 0
    vectors: int = 0


@dataclass(frozen=True)
class Manifest:
    model: ModelInfo
    chunker: dict[str, Any]
    counts: Counts = Counts()
    generation: str | None = None
    previous_generation: str | None = None
    normalization: str = "l2"
    metric: str = "inner_product"
    # index/ann.py AnnSpec.to_manifest(); older indexes say {"type": "IDMap2,Flat", "exact": True} (flat)
    faiss: dict[str, Any] = field(
        default_factory=lambda: {"type": "flat", "vectors": "fp32", "exact": True, "description": "IDMap2,Flat",
                                 "params": {}, "requested": {}}
    )
    lexical: dict[str, Any] = field(
        default_factory=lambda: {"engine": "sqlite-fts5", "tokenize": LEXICAL_TOKENIZE, "fields": ["title", "text"],
                                 "cjk": "character bigrams of CJK runs in passages_cjk (unicode61)"}
    )
    files: dict[str, str] = field(
        default_factory=lambda: {
            "passages": "passages.sqlite",
            "vectors": "vectors.npy",
            "vector_ids": "vector_ids.npy",
            "faiss": "faiss.index",
        }
    )
    # the lean query encoder (index/query_encoder.py): kind, path under DIR, fingerprint, agreement; None: none
    query_encoder: dict[str, Any] | None = None
    # source-key prefix -> the absolute folder (or file) it stands for: passage ids are "<prefix>/<path inside>#n"
    # whatever the working directory (embed/text/documents.py find_sources); a later folder of the same
    # name gets a longer prefix while the recorded one still exists
    sources: dict[str, str] = field(default_factory=dict)
    precision: str | None = None  # "fp32" | "bf16": how the last run encoded passages (embed/export.py)
    # where passages and vectors live (index/stores): None = this directory (FAISS + SQLite); else e.g.
    # {"kind": "milvus", "uri": ..., "collection": ..., "active": the collection this generation is in}
    store: dict[str, Any] | None = None
    created: str = ""
    updated: str = ""
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def touched(self, **changes: Any) -> Manifest:
        """A copy with ``changes`` applied and ``updated`` (and ``created`` if unset) set to now."""
        now = utc_now()
        return replace(self, created=self.created or now, updated=now, **changes)


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def manifest_path(directory: Path) -> Path:
    return directory / MANIFEST_NAME


def read_manifest(directory: Path) -> Manifest:
    path = manifest_path(directory)
    if not path.exists():
        raise IndexNotFound(str(directory))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return parse_manifest(raw)
    except OSError as exc:  # no permission, a folder named manifest.json, an I/O error
        raise IndexCorrupt(str(directory), f"cannot read {MANIFEST_NAME} ({exc.strerror or exc})") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexCorrupt(str(directory), f"unreadable {MANIFEST_NAME} ({exc})") from exc


def parse_manifest(raw: dict[str, Any]) -> Manifest:
    if raw.get("format") != FORMAT:
        raise ValueError(f"not a semsearch manifest (format={raw.get('format')!r})")
    if raw.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"format version {raw.get('format_version')} is not {FORMAT_VERSION}")
    fields = dict(raw)
    fields["model"] = ModelInfo(**raw["model"])
    fields["counts"] = Counts(**raw["counts"])
    return Manifest(**fields)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    write_json_atomic(manifest_path(directory), manifest.to_dict())
