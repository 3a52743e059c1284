"""The store interface: what a backend keeps (passages, their vectors, BM25) and how a run writes to it.

A store is named by a URI (``parse_store``) and recorded in the manifest as ``StoreSpec.to_manifest()``.
Two backends:

- ``local`` (index/stores/local.py): the built-in generation folder, FAISS + SQLite; the builder and
  index/search/reader.py implement it directly, so the default path is exactly what it was.
- ``milvus`` (index/stores/milvus.py): passages, dense vectors and a BM25 sparse field live in one Milvus
  collection; a run writes only its changes as versioned rows (see milvus.py for why, and the cost).

Every backend keeps the crash-safety rule of the index: nothing a run writes is visible until the
manifest names its generation (the manifest swap in index/build/builder.py is the one commit point).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from index.errors import SemsearchError

KINDS = ("local", "milvus")
SERVER_SCHEMES = ("http", "https", "tcp", "grpc")
STORE_HELP = "expected 'local', 'milvus:./FILE.db' (Milvus Lite) or 'milvus:http://HOST:19530' (a server)"


class StoreError(SemsearchError):
    """A store that cannot be named, reached or used; the text says what to do next."""


class BadStore(StoreError):
    def __init__(self, text: str, problem: str) -> None:
        super().__init__(f"bad --store '{text}': {problem}; {STORE_HELP}")


@dataclass(frozen=True)
class StoreSpec:
    kind: str = "local"  # local | milvus
    uri: str | None = None  # milvus: an absolute Milvus Lite file path, or http(s)://host:port
    collection: str | None = None  # milvus: the collection (None: named after the index directory)

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    @property
    def is_server(self) -> bool:
        return self.uri is not None and urlsplit(self.uri).scheme in SERVER_SCHEMES

    def describe(self) -> str:
        if self.is_local:
            return "local"
        return f"{self.kind}:{self.uri}" + (f"#{self.collection}" if self.collection else "")

    def for_index(self, directory: Path) -> StoreSpec:
        """The spec with its collection named: given, or derived from the index directory's path."""
        if self.is_local or self.collection:
            return self
        digest = hashlib.sha1(str(Path(directory).resolve()).encode("utf-8")).hexdigest()[:12]
        return StoreSpec(self.kind, self.uri, f"semsearch_{digest}")

    def to_manifest(self) -> dict[str, Any] | None:
        return None if self.is_local else {"kind": self.kind, "uri": self.uri, "collection": self.collection}

    @classmethod
    def from_manifest(cls, raw: dict[str, Any] | None) -> StoreSpec:
        if not raw:
            return cls()
        return cls(raw["kind"], raw.get("uri"), raw.get("collection"))


def parse_store(text: str | None) -> StoreSpec:
    """'local' | 'milvus:PATH.db' | 'milvus:http://host:port' (optionally '#collection'). Credentials never
    travel in the URI (they would land in shell history and the manifest): use $SEMSEARCH_MILVUS_TOKEN."""
    text = (text or "local").strip()
    kind, sep, rest = text.partition(":")
    if kind == "local" and not sep:
        return StoreSpec()
    if kind != "milvus" or not rest.strip():
        raise BadStore(text, "unknown store" if kind not in KINDS else "the Milvus address is missing")
    target, _, collection = rest.strip().partition("#")
    if collection and not collection.replace("_", "").isalnum():
        raise BadStore(text, f"collection '{collection}' may hold only letters, digits and _")
    parts = urlsplit(target)
    if parts.scheme in SERVER_SCHEMES:
        if parts.username or parts.password:
            raise BadStore(text, "credentials do not belong in the address; set $SEMSEARCH_MILVUS_TOKEN "
                                 "(or $SEMSEARCH_MILVUS_USER and $SEMSEARCH_MILVUS_PASSWORD)")
        if not parts.hostname:
            raise BadStore(text, "the server address has no host")
        return StoreSpec("milvus", target.rstrip("/"), collection or None)
    if parts.scheme:
        raise BadStore(text, f"unknown scheme '{parts.scheme}'")
    path = Path(target).expanduser()
    if not path.name.endswith(".db"):
        raise BadStore(text, "a Milvus Lite file name must end in .db")
    return StoreSpec("milvus", str(path.resolve()), collection or None)


@dataclass(frozen=True)
class NewRow:
    """A passage as a store keeps it: the ledger's pk and fields, and its unit-length vector."""

    pk: int
    id: str
    source: str
    title: str
    ordinal: int
    start: int
    end: int
    text: str
    digest: str
    vector: np.ndarray


class VectorStore(ABC):
    """A backend the builder writes generations to and readers search (see the module notes)."""

    spec: StoreSpec

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What the manifest's ``faiss`` slot records for this backend (index type, metric, ...)."""

    @abstractmethod
    def start_run(self, active: str | None, generation: int, fresh: bool) -> None:
        """Pick where this run writes: the place readers use now (``active``), or a new one (``fresh``)."""

    @abstractmethod
    def recover(self, committed: int | None) -> None:
        """Undo whatever a killed run left behind after generation ``committed`` (None: no index yet)."""

    @abstractmethod
    def known_vectors(self, digests: Sequence[str], generation: int) -> dict[str, np.ndarray]:
        """digest -> stored vector, for the passages of ``generation`` with those digests (no re-encoding)."""

    @abstractmethod
    def write_generation(self, generation: int, added: Sequence[NewRow], removed: Sequence[int],
                         dimension: int, model: str) -> None:
        """Make ``generation`` = the previous one minus ``removed`` pks plus ``added``, invisibly."""

    @abstractmethod
    def release(self, oldest_kept: int) -> None:
        """Free what no generation from ``oldest_kept`` on can see (called after the manifest swap)."""

    @abstractmethod
    def manifest_entry(self) -> dict[str, Any] | None:
        """What the manifest's ``store`` slot records; readers open the store from it alone."""

    def close(self) -> None:
        """Release connections."""
