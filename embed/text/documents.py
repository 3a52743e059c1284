"""Find input files, give each a stable source key, and read them into documents (formats/: one reader each).

Source keys (the part of a passage id before ``#``) do not depend on the working directory: a file
found under a folder argument ``R`` is ``<name of R>/<path inside R>`` (``seeds/a.txt`` for
``semsearch index seeds/`` or ``semsearch index /abs/path/seeds``), a file named on the command line is
its file name. When two folder arguments share a name, their keys take parent folders until they differ;
so does a folder whose name an index already records for another folder that still exists (``taken``,
the manifest's ``sources``), while a recorded folder that is gone (moved) gives its name to the new one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from embed.errors import PathNotFound, UnreadableFile
from embed.records import Document
from embed.text.formats import SUPPORTED_SUFFIXES, Loaded, reader_for
from embed.text.formats.html import extract_html
from embed.text.titles import detect_title

__all__ = [
    "SUPPORTED_SUFFIXES", "SourceFile", "detect_title", "discover_files", "display_path", "extract_html",
    "find_sources", "load_documents", "read_file",
]


@dataclass(frozen=True)
class SourceFile:
    """A file to index: where it is, and the stable key its documents are stored under."""

    path: Path
    key: str
    root: str  # the absolute folder (or file) argument it was found through
    label: str = ""  # the key prefix standing for ``root`` (its name, or more of its path)


@dataclass(frozen=True)
class WalkProblem:
    """A folder that could not be listed (permission denied, vanished): skipped with a warning."""

    path: str
    reason: str


def find_sources(
    paths: Sequence[str | Path], problems: list[WalkProblem] | None = None, taken: Mapping[str, str] | None = None
) -> list[SourceFile]:
    """Files under ``paths`` (as ``discover_files``) with their stable keys; unlistable folders go to ``problems``;
    ``taken``: labels an index already uses, label -> absolute root."""
    roots = [Path(os.path.abspath(raw)) for raw in paths]
    labels = root_labels(roots, taken)
    found: list[SourceFile] = []
    seen: set[Path] = set()
    for raw, root in zip(paths, roots):
        if not root.exists():
            raise PathNotFound(str(raw))
        files = _walk(Path(raw), problems) if root.is_dir() else [Path(raw)]
        for file in files:
            absolute = Path(os.path.abspath(file))
            if absolute in seen:
                continue
            seen.add(absolute)
            inside = absolute.relative_to(root).as_posix() if root.is_dir() else ""
            key = "/".join(part for part in (labels[root], inside) if part and part != ".")
            found.append(SourceFile(file, key, str(root), labels[root]))
    return found


def root_labels(roots: Sequence[Path], taken: Mapping[str, str] | None = None) -> dict[Path, str]:
    """Each root's label: its name, with parent folders added while two roots would share a label or a
    label is ``taken`` by another root that still exists."""
    taken = {label: other for label, other in (taken or {}).items() if Path(other).exists()}
    depth = {root: 1 for root in roots}
    while True:
        labels = {root: "/".join(root.parts[-depth[root] :]).lstrip("/") for root in roots}
        clashes = {root for root in roots if sum(labels[r] == labels[root] for r in set(roots)) > 1}
        clashes |= {root for root in roots if labels[root] in taken and not _same(taken[labels[root]], root)}
        grow = {root for root in clashes if depth[root] < len(root.parts)}
        if not grow:
            return labels
        for root in grow:
            depth[root] += 1


def _same(recorded: str, root: Path) -> bool:
    return os.path.realpath(recorded) == os.path.realpath(root)


def discover_files(paths: Sequence[str | Path]) -> list[Path]:
    """Files named, plus supported files under directories named (recursive, sorted, hidden skipped)."""
    return [source.path for source in find_sources(paths)]


def _walk(root: Path, problems: list[WalkProblem] | None) -> list[Path]:
    def note(error: OSError) -> None:
        if problems is not None:
            problems.append(WalkProblem(display_path(Path(error.filename or root)), _reason(error)))

    files: list[Path] = []
    for folder, dirs, names in os.walk(root, onerror=note):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                files.append(Path(folder) / name)
    return sorted(files, key=lambda file: file.parts)


def _reason(error: OSError) -> str:
    return f"folder skipped ({error.strerror or error})"


def display_path(path: Path) -> str:
    """``path`` relative to the current directory when inside it (posix form), else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_posix()


def read_file(source: SourceFile) -> Loaded:
    """The documents of one file and notes about reading it; UnreadableFile when it yields none."""
    shown = display_path(source.path)
    if source.path.is_dir():
        raise UnreadableFile(shown, "cannot read (Is a directory)")
    if not source.path.is_file():  # reading a pipe would wait forever
        broken = source.path.is_symlink()
        raise UnreadableFile(shown, "cannot read (a broken link)" if broken else "not a regular file (a pipe or device)")
    return reader_for(source.path)(source.path, source.key, shown)


def load_documents(path: Path, key: str | None = None) -> list[Document]:
    """The documents of one file (notes dropped); ``key`` defaults to the path as displayed."""
    return read_file(SourceFile(path, key or display_path(path), "")).documents
