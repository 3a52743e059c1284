"""Open the current generation of an index read-only and check that its parts agree."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from index.ann.numpy_flat import NumpyFlat
from index.ann.search import DenseIndex
from index.ann.spec import AnnSpec
from index.ann.vectors import NpyRows, load_array
from index.errors import IndexCorrupt
from index.storage.manifest import Manifest, read_manifest
from index.storage.store import Store, connect

FLAT_MAGIC = b"IxM2"  # faiss's fourcc of IndexIDMap2, the exact flat index the builder writes


@dataclass
class IndexReader:
    """A consistent, read-only view of one index generation."""

    directory: Path
    manifest: Manifest
    store: Store

    @property
    def generation_dir(self) -> Path:
        return self.directory / str(self.manifest.generation)

    def file(self, key: str) -> Path:
        return self.generation_dir / self.manifest.files[key]

    @property
    def has_vectors(self) -> bool:
        return self.manifest.counts.vectors > 0

    @cached_property
    def faiss_index(self) -> DenseIndex:
        """The dense index (flat / HNSW / IVF as the manifest records): search, ntotal, reconstruct."""
        path = self.file("faiss")
        spec = AnnSpec.from_manifest(self.manifest.faiss)
        if spec.exact:  # numpy over vectors.npy answers exactly as faiss would, without importing it
            check_flat_file(self.directory, path, self.manifest.counts.vectors, self.manifest.model.dimension)
            vectors, ids = self.vectors()
            return DenseIndex(NumpyFlat(vectors, ids, spec), lambda: (vectors, ids), len(ids))
        from index.ann.factory import load_ann  # faiss: only approximate or compact indexes need it

        try:
            backend = load_ann(spec, path)
            live = backend.count()
        except Exception as exc:  # faiss raises RuntimeError with C++ text for any damage
            raise IndexCorrupt(str(self.directory), f"cannot read {path.name} ({str(exc).splitlines()[0]})") from exc
        if live != self.manifest.counts.vectors:
            raise IndexCorrupt(
                str(self.directory), f"{path.name} holds {live} vectors, manifest says {self.manifest.counts.vectors}"
            )
        return DenseIndex(backend, self.vector_rows, live)

    def vector_rows(self) -> tuple[NpyRows, np.ndarray]:
        """(rows of vectors.npy read on demand, pks): what re-scoring reads, without mapping the file."""
        _, ids = self.vectors()  # checks the shapes against the manifest
        try:
            return NpyRows(self.file("vectors")), ids
        except (OSError, ValueError) as exc:
            raise IndexCorrupt(str(self.directory), f"cannot read {self.file('vectors').name} ({exc})") from exc

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, pks) as stored: the embeddings FAISS is built from."""
        arrays = []
        for key, mmap in (("vectors", True), ("vector_ids", False)):
            try:
                arrays.append(load_array(self.file(key), mmap=mmap))
            except (OSError, ValueError) as exc:  # name the damaged file (issue 14)
                raise IndexCorrupt(str(self.directory), f"cannot read {self.file(key).name} ({exc})") from exc
        vectors, ids = arrays
        if len(vectors) != len(ids) or len(ids) != self.manifest.counts.vectors:
            raise IndexCorrupt(str(self.directory), "stored vectors and their ids disagree with the manifest")
        return vectors, ids

    def close(self) -> None:
        if "faiss_index" in self.__dict__:
            self.faiss_index.close()
        self.store.close()


def check_flat_file(directory: Path, path: Path, count: int, dimension: int | None) -> None:
    """The flat faiss.index is not read on the question path, but a damaged one is still reported:
    its fourcc and its size (at least the float32 vectors it must hold) are checked."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
        size = path.stat().st_size
    except OSError as exc:
        raise IndexCorrupt(str(directory), f"cannot read {path.name} ({exc.strerror or exc})") from exc
    if magic != FLAT_MAGIC or size < count * (dimension or 0) * 4:
        raise IndexCorrupt(str(directory), f"{path.name} is not the exact flat index the manifest records")


def open_reader(directory: Path) -> IndexReader:
    """Read the manifest, open its generation and verify the counts (IndexNotFound / IndexCorrupt)."""
    manifest = read_manifest(directory)
    if manifest.store:  # passages and vectors live in a store outside the directory (index/stores)
        from index.stores.milvus_view import open_milvus_view

        return open_milvus_view(directory, manifest)
    gen_dir = directory / str(manifest.generation)
    db_path = gen_dir / manifest.files["passages"]
    if not manifest.generation or not db_path.is_file():
        raise IndexCorrupt(str(directory), f"missing {db_path}")
    try:
        store = Store(connect(db_path, readonly=True))
        counts = (store.count("documents"), store.count("passages"))
    except sqlite3.DatabaseError as exc:
        raise IndexCorrupt(str(directory), f"cannot read {db_path.name} ({exc})") from exc
    expected = (manifest.counts.documents, manifest.counts.passages)
    if counts != expected:
        store.close()
        raise IndexCorrupt(
            str(directory), f"{db_path.name} holds {counts[0]} documents / {counts[1]} passages, "
            f"manifest says {expected[0]} / {expected[1]}"
        )
    reader = IndexReader(directory, manifest, store)
    if manifest.counts.vectors:
        reader.faiss_index  # noqa: B018 - load now so a damaged file is reported up front
    return reader
