"""semsearch's index: vectors -> FAISS + passage store -> ranked hits, and the CLI on top."""

from index.api import ask, describe_index, index_paths, open_index, related

__all__ = ["ask", "describe_index", "index_paths", "open_index", "related"]
