"""The default store: each generation is a folder of the index directory (passages.sqlite with FTS5 BM25,
vectors.npy, faiss.index; see index/storage/layout.py).

It is the store the builder (index/build/builder.py, ``GenerationJob``) and the reader
(index/search/reader.py, ``open_reader``) were written for, so they implement it directly and the
default path costs nothing extra; ``LocalStore`` names it for the factory and the manifest (which
records no ``store`` for it, as every index before stores existed).
"""

from __future__ import annotations

from typing import Any

from index.stores.base import StoreSpec


class LocalStore:
    """FAISS + SQLite in the index directory; written by GenerationJob, read by open_reader."""

    builtin = True

    def __init__(self, spec: StoreSpec = StoreSpec()) -> None:
        self.spec = spec

    def manifest_entry(self) -> dict[str, Any] | None:
        return None

    def close(self) -> None:
        pass
