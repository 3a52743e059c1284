"""semsearch's index: vectors -> FAISS + passage store -> ranked hits, and the CLI on top.

The API names below are imported on first use (PEP 562), so that `semsearch ask` loads only the
modules a question needs (not the builder, which is what indexing needs).
"""

from __future__ import annotations

__all__ = ["ask", "describe_index", "index_paths", "open_index", "related"]


def __getattr__(name: str):
    if name in __all__:
        from index import api

        return getattr(api, name)
    raise AttributeError(f"module 'index' has no attribute {name!r}")
