"""JSON Lines (.jsonl): one document per line, ``{"id": ..., "title": ..., "text": ...}``.

Read line by line (a file of any size costs one line of memory beyond its documents). A bad line is
skipped with a note naming ``file:line`` and the reason; the rest of the file is indexed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from embed.errors import UnreadableFile
from embed.records import Document, Note
from embed.text.formats.plain import BOMS, NEWLINES, Loaded, decode_bytes, read_bytes
from embed.text.titles import detect_title


class BadLine(ValueError):
    """Why one line cannot become a document."""


def read(path: Path, key: str, shown: str) -> Loaded:
    documents: list[Document] = []
    notes: list[Note] = []
    seen: set[str] = set()
    for number, line in _lines(path, shown, notes):
        if not line.strip():
            continue
        try:
            record_id, title, body = parse_record(line, number)
            if record_id in seen:
                raise BadLine(f"duplicate id {record_id!r} (the first one is kept)")
        except BadLine as bad:
            notes.append(Note(f"{shown}:{number}", str(bad), skipped=True))
            continue
        seen.add(record_id)
        if body.strip():
            title = title or detect_title(body, f"{path.stem}:{record_id}")
            documents.append(Document(source=f"{key}:{record_id}", title=title, text=body, path=shown))
    if not documents:
        skipped = [n for n in notes if n.where != shown]
        reason = f"no usable line ({len(skipped)} bad, first {skipped[0].where}: {skipped[0].message})" if skipped else "empty file"
        raise UnreadableFile(shown, reason)
    return Loaded(documents, notes)


def _lines(path: Path, shown: str, notes: list[Note]) -> Iterator[tuple[int, str]]:
    """(number, text) of each line, decoded as UTF-8 (JSON's encoding), or whole-file for UTF-16/32."""
    try:
        handle = open(path, "rb")
    except OSError as error:
        raise UnreadableFile(shown, f"cannot read ({error.strerror or error})") from error
    with handle:
        head = handle.read(4)
        if any(head.startswith(bom) for bom, encoding in BOMS if encoding != "utf-8"):
            text, decoded_notes = decode_bytes(read_bytes(path, shown), shown)
            notes.extend(decoded_notes)
            yield from enumerate(NEWLINES.sub("\n", text).split("\n"), start=1)
            return
        handle.seek(len(BOMS[2][0]) if head.startswith(BOMS[2][0]) else 0)
        for number, raw in enumerate(handle, start=1):
            line = raw.decode("utf-8", errors="replace")
            if "\ufffd" in line and b"\xef\xbf\xbd" not in raw:
                notes.append(Note(f"{shown}:{number}", "undecodable bytes replaced by \ufffd (not UTF-8)"))
            yield number, line


def parse_record(line: str, number: int) -> tuple[str, str, str]:
    """(id, title, text) of one jsonl line; ``id`` (or BEIR's ``_id``) defaults to the line number."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise BadLine(f"not valid JSON ({error.msg}, column {error.colno})") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise BadLine('no "text" string')
    record_id = record.get("id", record.get("_id", number))
    if not isinstance(record_id, (str, int)) or isinstance(record_id, bool) or str(record_id) == "":
        raise BadLine('"id" must be a string or an integer')
    title = record.get("title")
    title = title.strip() if isinstance(title, str) else ""
    return str(record_id), title, NEWLINES.sub("\n", record["text"])
