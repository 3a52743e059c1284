"""Plain text in any encoding: BOMs (UTF-8/16/32), UTF-8, else a detected encoding (charset-normalizer).

A file is never lost for a few bad bytes: undecodable bytes become U+FFFD and are counted in a note;
only a file that is mostly NUL bytes and no detectable encoding (a binary file) is skipped.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from embed.errors import UnreadableFile
from embed.records import Document, Note
from embed.text.titles import detect_title

# longest first: the UTF-32 LE BOM begins with the UTF-16 LE one
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
SNIFF_BYTES = 8192
DETECT_BYTES = 256 * 1024  # charset-normalizer reads a sample; the whole file is then decoded with its answer
NEWLINES = re.compile(r"\r\n?")
REPLACEMENT = "\ufffd"
PREFERRED = ("utf_8", "cp1252", "iso8859_15", "latin_1")
CHAOS_MARGIN = 0.05
WESTERN_SHARE = 0.3  # at most this share of a Western text's letters carry accents


@dataclass(frozen=True)
class Loaded:
    """The documents of one file, and notes about what reading it took (shown as warnings)."""

    documents: list[Document]
    notes: list[Note] = field(default_factory=list)


def read(path: Path, key: str, shown: str) -> Loaded:
    text, notes = decode_file(path, shown)
    return Loaded([Document(source=key, title=detect_title(text, path.stem), text=text, path=shown)], notes)


def read_bytes(path: Path, shown: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise UnreadableFile(shown, f"cannot read ({error.strerror or error})") from error


def decode_file(path: Path, shown: str) -> tuple[str, list[Note]]:
    """The file's text (newlines normalised) and notes; UnreadableFile for binary or empty files."""
    text, notes = decode_bytes(read_bytes(path, shown), shown)
    if not text.strip():
        raise UnreadableFile(shown, "empty file")
    return NEWLINES.sub("\n", text), notes


def decode_bytes(data: bytes, shown: str) -> tuple[str, list[Note]]:
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return _decode(data[len(bom) :], encoding, shown, f"{encoding.upper()} (byte order mark)")
    text, bad = _decode_counting(data, "utf-8")
    has_nul = b"\x00" in data[:SNIFF_BYTES]
    if not has_nul and (bad == 0 or _mostly_utf8(text, bad)):
        return text, _replaced_note(shown, bad, "UTF-8")
    encoding = detect_encoding(data[:DETECT_BYTES])
    if encoding is None or (has_nul and not encoding.startswith("utf_")):
        raise UnreadableFile(shown, "binary file (no text encoding fits)")
    text, notes = _decode(data, encoding, shown, encoding)
    if has_nul and "\x00" in text[:SNIFF_BYTES]:
        raise UnreadableFile(shown, "binary file (NUL bytes)")
    return text, [Note(shown, f"no byte order mark and not UTF-8; read as {encoding} (detected)"), *notes]


def detect_encoding(sample: bytes) -> str | None:
    """charset-normalizer's guess for ``sample`` (e.g. "cp1252", "utf_16_le"), or None for binary data.

    Short samples fit many code pages equally well (it offers cp1006 before cp1252 for "café"), so a
    common Western code page wins among the guesses as good as the best one.
    """
    from charset_normalizer import from_bytes

    matches = list(from_bytes(sample))
    if not matches:
        return None
    if not matches[0].encoding.startswith("utf") and _western(sample):
        return "cp1252"
    best = min(match.chaos for match in matches)
    close = [match.encoding for match in matches if match.chaos <= best + CHAOS_MARGIN]
    return next((encoding for encoding in PREFERRED if encoding in close), close[0])


def _western(sample: bytes) -> bool:
    """Does ``sample`` read as Windows-1252 prose: accented Latin letters, a minority among plain ones?

    (Cyrillic or Greek code pages also decode as cp1252, but then nearly every letter is accented.)"""
    try:
        text = sample.decode("cp1252")
    except UnicodeDecodeError:
        return False
    letters = sum(ch.isalpha() for ch in text)
    accented = [ch for ch in text if ord(ch) > 0x7F and ch.isalpha()]
    if not letters or len(accented) > WESTERN_SHARE * letters:
        return False
    return all("LATIN" in unicodedata.name(ch, "") for ch in accented)


def _decode(data: bytes, encoding: str, shown: str, label: str) -> tuple[str, list[Note]]:
    text, bad = _decode_counting(data, encoding)
    return text, _replaced_note(shown, bad, label)


def _decode_counting(data: bytes, encoding: str) -> tuple[str, int]:
    """Decode with U+FFFD for bad bytes; the count excludes U+FFFD characters the file really holds."""
    text = data.decode(encoding, errors="replace")
    bad = text.count(REPLACEMENT)
    if bad and encoding.replace("_", "-").startswith("utf"):
        bad -= data.count(REPLACEMENT.encode(encoding))
    return text, max(0, bad)


def _mostly_utf8(text: str, bad: int) -> bool:
    """A UTF-8 file with a stray byte or two: its valid multi-byte characters outnumber the bad bytes."""
    valid = len(text) - len(text.encode("ascii", errors="ignore")) - bad
    return valid >= bad


def _replaced_note(shown: str, bad: int, encoding: str) -> list[Note]:
    if not bad:
        return []
    return [Note(shown, f"{bad} undecodable byte sequence(s) in {encoding} text replaced by \ufffd")]
