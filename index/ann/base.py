"""The one interface every dense-index backend implements (after txtai's ann/base.py).

A backend holds one kind of index (``AnnSpec.type``) over L2-normalised vectors keyed by passage pk:
it is built from (vectors, pks), carried to the next generation by ``update`` (or built again), searched
like a faiss index -- ``search(queries, k) -> (scores, pks)``, best first, pk -1 pads -- saved to the
generation's faiss.index and loaded back. index/ann/factory.py picks the backend for a spec; the
searcher sees it through index/ann/search.py's DenseIndex (compact codes re-scored exactly there).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.ann.spec import AnnSpec


@dataclass(frozen=True)
class PreviousAnn:
    """The previous generation's index, and the vectors and ids it was built from."""

    spec: AnnSpec
    path: Path
    vectors: np.ndarray
    ids: np.ndarray


class AnnBackend(ABC):
    """One kind of dense index: ``index`` is the library's object, ``spec`` what the manifest records."""

    def __init__(self, index: Any, spec: AnnSpec) -> None:
        self.index = index
        self.spec = spec

    @property
    def ntotal(self) -> int:
        """Rows the index holds (a graph also holds tombstones; see ``count``)."""
        return int(self.index.ntotal)

    def count(self) -> int:
        """Vectors the index answers with."""
        return self.ntotal

    @classmethod
    @abstractmethod
    def build(cls, spec: AnnSpec, vectors: np.ndarray, ids: np.ndarray) -> AnnBackend:
        """A fresh index of ``spec`` holding ``vectors`` keyed by ``ids``."""

    @classmethod
    def update(cls, previous: PreviousAnn, spec: AnnSpec, vectors: np.ndarray, ids: np.ndarray,
               removed: np.ndarray, added: np.ndarray) -> AnnBackend:
        """The previous generation's index with pks ``removed`` and rows ``added``; by default built anew."""
        return cls.build(spec, vectors, ids)

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, pks) of the k best rows per query (float32 queries, one per row)."""

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write the index to ``path``, flushed to disk (the builder publishes the generation atomically)."""

    @classmethod
    @abstractmethod
    def load(cls, spec: AnnSpec, path: Path) -> AnnBackend:
        """The index ``save`` wrote."""
