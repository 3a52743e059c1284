"""Find a document's title: a short unfinished line near the top, past datelines and key/value lines."""

from __future__ import annotations

import re

_TITLE_LINES = 6
_TITLE_WORDS, _TITLE_CHARS = 20, 200

_MONTHS_DAYS = re.compile(
    r"\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?"
    r"|thu(?:rs(?:day)?)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?)\b",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"\b\d{1,2}:\d{2}\b")
_KEY_VALUE = re.compile(r"^[^:]{1,40}\s:\s*\S*\d\S*$|^[^:]{1,40}:\s*\d[\d\s/.-]*$")
_SENTENCE_END = re.compile(r"[.;:,][\"'\u201d\u2019)\]]*$")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+")


def detect_title(text: str, fallback: str) -> str:
    """The headline of a news-like text: a short unfinished line near the top, past datelines."""
    lines = [_MARKDOWN_HEADING.sub("", line.strip()) for line in text.split("\n")]
    lines = [line for line in lines if line][:_TITLE_LINES]
    candidates = [line for line in lines if not _is_metadata(line)]
    if not candidates:
        return fallback
    for line in candidates:
        if candidates.count(line) > 1 and _is_headline(line):
            return line
    return candidates[0] if _is_headline(candidates[0]) else fallback


def _is_metadata(line: str) -> bool:
    """Datelines, clock times and ``Story Code : 1082204``-style key/value lines."""
    if len(line) > _TITLE_CHARS:
        return False
    has_digit = any(ch.isdigit() for ch in line)
    return bool(
        (has_digit and _MONTHS_DAYS.search(line) and len(line.split()) <= 8)
        or _CLOCK.search(line)
        or _KEY_VALUE.match(line)
        or not any(ch.isalpha() for ch in line)
    )


def _is_headline(line: str) -> bool:
    return len(line.split()) <= _TITLE_WORDS and len(line) <= _TITLE_CHARS and not _SENTENCE_END.search(line)
