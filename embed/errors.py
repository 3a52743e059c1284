"""Typed errors raised by the embed package, and semsearch's one root error type.

Every error semsearch raises on purpose derives from ``SemsearchError`` (embed's via ``EmbedError``,
index's via index/errors.py); only the CLI and servers turn it into a message (index/cli/messages.py).
"""

from __future__ import annotations


class SemsearchError(Exception):
    """Root of every error semsearch raises on purpose; its text is one line that says what to do next."""


class EmbedError(SemsearchError):
    """Base class for every error the embed package raises on purpose."""


class PathNotFound(EmbedError):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: no such file or directory; check the path and try again")
        self.path = path


class UnreadableFile(EmbedError):
    """A file that cannot become a document (binary, undecodable, empty, malformed).

    Indexing skips it with one warning line and goes on.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ModelUnavailable(EmbedError):
    """The embedding model could not be loaded (not cached and no network, bad path, ...)."""

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(
            f"cannot load embedding model '{model}': {reason}. Fixes: connect to the network once so the "
            f"model is downloaded into the Hugging Face cache; or pass --model /path/to/local/model/dir; "
            f"or point HF_HOME at a cache that already holds '{model}'"
        )


class ModelPathInvalid(EmbedError):
    """``--model`` names a local path that does not exist or holds no model (never a lexical fallback)."""

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(
            f"--model {model}: {reason}; pass a folder holding a sentence-transformers model (modules.json or "
            f"config.json), or a hub id such as sentence-transformers/all-MiniLM-L6-v2"
        )
        self.model = model
        self.reason = reason
