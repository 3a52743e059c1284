"""Typed errors of the index package, all ``SemsearchError``s (embed/errors.py, the one root). The CLI
prints them as one line and exits 1."""

from __future__ import annotations

from embed.errors import SemsearchError

__all__ = ["SemsearchError", "IndexNotFound", "IndexCorrupt", "IndexBusy", "ModelMismatch", "UnknownPassage",
           "BadQuery", "NoVectors", "IndexUnwritable", "unwritable", "NothingToIndex", "BadModelSettings"]


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


class IndexUnwritable(SemsearchError):
    """The index folder cannot be created or written (a file is in the way, no permission, disk full)."""

    def __init__(self, directory: str, problem: str, fix: str) -> None:
        super().__init__(f"cannot write the index at {directory}: {problem}; {fix}")
        self.directory = directory
        self.problem = problem


def unwritable(directory: str, error: OSError) -> IndexUnwritable:
    """The IndexUnwritable for an OSError met while writing ``directory`` (the previous index is kept)."""
    import errno

    where = f" ({error.filename})" if getattr(error, "filename", None) else ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return IndexUnwritable(directory, f"the disk is full{where}", "free some space and run again; the "
                               "previous index is unchanged")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return IndexUnwritable(directory, f"permission denied{where}", "make the folder writable or pass "
                               "--index DIR to write elsewhere; the previous index is unchanged")
    if error.errno in (errno.EEXIST, errno.ENOTDIR):
        return IndexUnwritable(directory, f"a file is in the way{where}", "--index must name a folder "
                               "(new or holding an index); pick another path")
    return IndexUnwritable(directory, f"{error.strerror or error}{where}", "fix that and run again; the "
                           "previous index is unchanged")


class NothingToIndex(SemsearchError):
    """The paths given hold no file that could be read, and there is no index yet to update."""

    def __init__(self, paths: str, skipped: int) -> None:
        note = f"; {skipped} skipped (see the warnings above)" if skipped else ""
        super().__init__(
            f"nothing was indexed: no readable .txt .md .html .jsonl .pdf .docx file under {paths}{note}; "
            f"no index was written"
        )


class BadModelSettings(SemsearchError):
    """A model folder's semsearch.json (written by `semsearch tune`) cannot be read."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}; fix or delete this file (without it hybrid search fuses with rrf:10)")
        self.path = path
