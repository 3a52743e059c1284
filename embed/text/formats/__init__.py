"""One reader per file format, chosen by suffix; each returns ``Loaded`` (documents + notes).

A reader is ``read(path, key, shown) -> Loaded``: ``key`` is the document's stable source key (the
passage ids are ``key#n``), ``shown`` the path as the user sees it (messages). Readers raise
UnreadableFile for a file that cannot become any document. Modules are imported on first use, so
pypdf and python-docx load only when a PDF or Word file is read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from embed.text.formats.plain import Loaded

READERS = {
    ".txt": "plain",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".jsonl": "jsonl",
    ".pdf": "pdf",
    ".docx": "docx",
}
SUPPORTED_SUFFIXES = frozenset(READERS)
FALLBACK = "plain"  # a file named on the command line with another suffix is read as text

__all__ = ["Loaded", "READERS", "SUPPORTED_SUFFIXES", "reader_for"]


def reader_for(path: Path) -> Callable[[Path, str, str], Loaded]:
    module = importlib.import_module(f"embed.text.formats.{READERS.get(path.suffix.lower(), FALLBACK)}")
    return module.read
