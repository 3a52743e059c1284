"""Typed errors of the index package, all ``SemsearchError``s (embed/errors.py, the one root). The CLI
prints them as one line and exits 1."""

from __future__ import annotations

from embed.errors import SemsearchError

__all__ = ["SemsearchError", "IndexNotFound", "IndexCorrupt", "IndexBusy", "ModelMismatch", "UnknownPassage",
           "BadQuery", "NoVectors"]


class IndexNotFound(SemsearchError):
    def __init__(self, directory: str) -> None:
        super().__init__(f"no index at {directory}; create one with `semsearch index PATH...` (or pass --index DIR)")


class IndexCorrupt(SemsearchError):
    def __init__(self, directory: str, problem: str) -> None:
        super().__init__(
            f"index at {directory} is damaged: {problem}; rebuild it with `semsearch index --rebuild PATH...`"
        )


class IndexBusy(SemsearchError):
    def __init__(self, directory: str, holder: str) -> None:
        super().__init__(
            f"another `semsearch index` is already updating {directory} ({holder}); wait for it to finish "
            f"or run again with --wait"
        )


class ModelMismatch(SemsearchError):
    def __init__(self, directory: str, index_model: str, requested: str) -> None:
        super().__init__(
            f"index at {directory} was built with model '{index_model}', not '{requested}'; drop --model "
            f"(and SEMSEARCH_MODEL) to keep using it, or pass --rebuild to re-embed everything with '{requested}'"
        )


class UnknownPassage(SemsearchError):
    def __init__(self, passage_id: str, suggestion: str | None = None) -> None:
        hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
        super().__init__(
            f"no passage '{passage_id}' in the index{hint}; passage ids look like 'path/to/file.txt#3' and are "
            f"shown by `semsearch ask --json`"
        )


class BadQuery(SemsearchError):
    """An empty question, a bad option combination, ..."""


class NoVectors(SemsearchError):
    """Dense search was asked of an index that holds no vectors (the model could not be loaded)."""
