"""Where an index keeps its passages and vectors: one interface (base.py), one small module per backend.

    parse_store("local")                        the default: FAISS + SQLite inside the index directory
    parse_store("milvus:./vectors.db")          Milvus Lite, one local file (one process at a time)
    parse_store("milvus:http://host:19530")     a Milvus server or cluster (token: $SEMSEARCH_MILVUS_TOKEN)

The manifest records the store (``Manifest.store``); readers follow it, so `ask`, `related`, `info`,
`bench`, `serve` and `mcp` need no flag of their own.
"""

from __future__ import annotations

from index.stores.base import StoreSpec, VectorStore, parse_store

__all__ = ["StoreSpec", "VectorStore", "open_store", "parse_store"]


def open_store(spec: StoreSpec, index_type: str = "auto", vectors: str = "auto", owner: str | None = None):
    """The backend for ``spec`` (imported only when used: pymilvus is an optional extra); ``index_type`` and
    ``vectors`` are the builder's --index-type / --vectors (auto: exact search); ``owner``: the index folder
    writing (a collection another folder wrote is refused, never dropped)."""
    if spec.is_local:
        from index.stores.local import LocalStore

        return LocalStore(spec)
    from index.stores.milvus import MilvusStore

    return MilvusStore(spec, "flat" if index_type == "auto" else index_type, "fp32" if vectors == "auto" else vectors,
                       owner)
