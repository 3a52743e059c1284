"""Cut a document into passages that follow paragraphs, pack whole sentences and fit the token budget.

Guarantee: every passage is counted with the given counter on its exact text and has at most
``settings.max_tokens`` tokens (only a single character that alone exceeds the budget could break it),
and every non-space character of the document lies in exactly one passage span.

Bounded memory: a "sentence" longer than GIANT_FACTOR x budget characters (a file with no sentence
ends, a minified blob, a single 30 MB line) is first cut into windows of about WINDOW_FACTOR x budget
characters at spaces, and a window over budget is halved, so the tokenizer never sees more than a
window at a time; every call to the counter gets at most COUNT_BATCH texts.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass

from embed.protocols import TokenCounter
from embed.records import ChunkerSettings, Document, Passage, passage_id
from embed.text.segment import split_paragraphs, split_sentences

_WHITESPACE = re.compile(r"\s+")
_WORD = re.compile(r"\S+")
MIN_BUDGET = 8
GIANT_FACTOR = 8  # characters per budget token beyond which a sentence is windowed before counting
WINDOW_FACTOR = 4  # a window's length in characters per budget token (English averages ~4.5 per token)
COUNT_BATCH = 512  # texts per counter call: the tokenizer's memory stays flat however long the document


@dataclass(frozen=True)
class _Unit:
    """A span that is packed whole (a sentence, or a word / character piece of a giant sentence)."""

    start: int
    end: int
    tokens: int


def collapse_whitespace(text: str) -> str:
    """The passage text for a document slice: whitespace runs (NBSP, newlines) become one space."""
    return _WHITESPACE.sub(" ", text).strip()


def chunk_document(doc: Document, counter: TokenCounter, settings: ChunkerSettings) -> list[Passage]:
    """Passages of ``doc``, each at most ``settings.max_tokens`` tokens by ``counter``."""
    budget = settings.max_tokens
    if budget < MIN_BUDGET:
        raise ValueError(f"max_tokens must be at least {MIN_BUDGET}, got {budget}")
    text = doc.text
    paragraphs = split_paragraphs(text)
    sentences = [span for start, end in paragraphs for span in split_sentences(text, start, end)]
    giant = budget * GIANT_FACTOR
    normal = [span for span in sentences if span[1] - span[0] <= giant]
    counts = count_texts(counter, [_slice(text, span) for span in normal])
    units = _fit_units(text, [_Unit(s, e, n) for (s, e), n in zip(normal, counts)], counter, budget)
    if len(normal) < len(sentences):
        windows = [_window_units(text, span, counter, budget) for span in sentences if span[1] - span[0] > giant]
        units = sorted(units + [unit for group in windows for unit in group], key=lambda unit: unit.start)
    groups = [group for run in _by_paragraph(units, paragraphs) for group in _pack(run, budget)]
    barriers = sorted({offset for offset, _ in doc.sections} | set(doc.pages[1:]))
    groups = _merge_small(groups, settings.min_tokens, budget, barriers)
    groups = _enforce_budget(text, groups, counter, budget)
    return [
        Passage(
            id=passage_id(doc.source, ordinal),
            source=doc.source,
            title=section_title(doc, group[0].start),
            ordinal=ordinal,
            start=group[0].start,
            end=group[-1].end,
            text=_slice(text, (group[0].start, group[-1].end)),
            page=bisect.bisect_right(doc.pages, group[0].start) if doc.pages else None,
        )
        for ordinal, group in enumerate(groups)
    ]


def section_title(doc: Document, start: int) -> str:
    """The document title, with the heading of the section the passage starts in (Word, Markdown)."""
    offsets = [offset for offset, _ in doc.sections]
    index = bisect.bisect_right(offsets, start) - 1
    if index < 0:
        return doc.title
    heading = doc.sections[index][1]
    return doc.title if heading == doc.title else f"{doc.title} \u203a {heading}"


def count_texts(counter: TokenCounter, texts: list[str]) -> list[int]:
    """Token counts in batches of COUNT_BATCH (one huge batch would hold every encoding at once)."""
    counts: list[int] = []
    for i in range(0, len(texts), COUNT_BATCH):
        counts.extend(counter.count(texts[i : i + COUNT_BATCH]))
    return counts


def _window_units(text: str, span: tuple[int, int], counter: TokenCounter, budget: int) -> list[_Unit]:
    """Units within budget for a giant span: windows cut at spaces, a window over budget halved."""
    pending = _windows(text, span, budget * WINDOW_FACTOR)
    units: list[_Unit] = []
    while pending:
        batch, pending = pending[-COUNT_BATCH:], pending[:-COUNT_BATCH]
        for piece, tokens in zip(batch, counter.count([_slice(text, piece) for piece in batch])):
            if tokens <= budget or piece[1] - piece[0] <= 1:
                units.append(_Unit(piece[0], piece[1], tokens))
            else:
                pending.extend(_halve_span(text, piece))
    return sorted(units, key=lambda unit: unit.start)


def _windows(text: str, span: tuple[int, int], size: int) -> list[tuple[int, int]]:
    """Spans of at most ``size`` characters covering ``span``, cut at the last space of each window."""
    spans: list[tuple[int, int]] = []
    start, end = span
    while start < end:
        stop = min(start + size, end)
        if stop < end:
            cut = max(text.rfind(" ", start + 1, stop), text.rfind("\n", start + 1, stop))
            stop = cut if cut > start else stop
        spans.extend(trim_span(text, start, stop))
        start = stop
    return spans


def _halve_span(text: str, span: tuple[int, int]) -> list[tuple[int, int]]:
    """Two pieces of ``span``, cut at the space nearest its middle (else at the middle)."""
    start, end = span
    middle = (start + end) // 2
    before, after = text.rfind(" ", start + 1, middle + 1), text.find(" ", middle, end - 1)
    options = [cut for cut in (before, after) if cut > start]
    cut = min(options, key=lambda cut: abs(cut - middle)) if options else middle
    return trim_span(text, start, cut) + trim_span(text, cut, end)


def trim_span(text: str, start: int, end: int) -> list[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [(start, end)] if start < end else []


def _slice(text: str, span: tuple[int, int]) -> str:
    return collapse_whitespace(text[span[0] : span[1]])


def _by_paragraph(units: list[_Unit], paragraphs: list[tuple[int, int]]) -> list[list[_Unit]]:
    """Consecutive runs of units that lie in the same paragraph."""
    ends = [end for _, end in paragraphs]
    runs: dict[int, list[_Unit]] = {}
    for unit in units:
        runs.setdefault(bisect.bisect_left(ends, unit.end), []).append(unit)
    return list(runs.values())


def _fit_units(text: str, units: list[_Unit], counter: TokenCounter, budget: int) -> list[_Unit]:
    """Replace units over budget by their words, and words over budget by character pieces."""
    while any(unit.tokens > budget and unit.end - unit.start > 1 for unit in units):
        known = {(unit.start, unit.end): unit.tokens for unit in units}
        spans = [span for unit in units for span in _cut(text, unit, budget)]
        fresh = [span for span in spans if span not in known]
        known.update(zip(fresh, count_texts(counter, [_slice(text, span) for span in fresh])))
        units = [_Unit(start, end, known[(start, end)]) for start, end in spans]
    return units


def _cut(text: str, unit: _Unit, budget: int) -> list[tuple[int, int]]:
    """Words of an oversized unit; a single oversized word is cut into character pieces."""
    if unit.tokens <= budget or unit.end - unit.start == 1:
        return [(unit.start, unit.end)]
    words = [match.span() for match in _WORD.finditer(text, unit.start, unit.end)]
    if len(words) > 1:
        return words
    length = unit.end - unit.start
    size = max(1, min(length - 1, math.floor(length * budget / unit.tokens * 0.9)))
    return [(start, min(start + size, unit.end)) for start in range(unit.start, unit.end, size)]


def _pack(units: list[_Unit], budget: int) -> list[list[_Unit]]:
    """Greedy packing of consecutive units, aiming each group at an even share of the remaining tokens."""
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    filled = 0
    remaining = sum(unit.tokens for unit in units)
    target = _target(remaining, budget)
    for unit in units:
        grown = filled + unit.tokens
        if current and (grown > budget or (grown > target and grown - target > target - filled)):
            groups.append(current)
            remaining -= filled
            target = _target(remaining, budget)
            current, filled, grown = [], 0, unit.tokens
        current.append(unit)
        filled = grown
    if current:
        groups.append(current)
    return groups


def _target(total: int, budget: int) -> float:
    return total / max(1, math.ceil(total / budget))


def _merge_small(
    groups: list[list[_Unit]], min_tokens: int, budget: int, barriers: list[int] = ()
) -> list[list[_Unit]]:
    """A group under ``min_tokens`` joins its previous (else next) neighbour when the sum fits, never
    across a barrier (a section heading or a page start), so a passage keeps one section and one page."""
    merged: list[list[_Unit]] = []
    for group in groups:
        if merged and not _barrier_between(barriers, merged[-1][-1].end, group[0].start):
            before, size = _tokens(merged[-1]), _tokens(group)
            if (size < min_tokens or before < min_tokens) and before + size <= budget:
                merged[-1] = merged[-1] + group
                continue
        merged.append(group)
    return merged


def _barrier_between(barriers: list[int], end: int, start: int) -> bool:
    i = bisect.bisect_left(barriers, end)
    return i < len(barriers) and barriers[i] <= start


def _tokens(group: list[_Unit]) -> int:
    return sum(unit.tokens for unit in group)


def _enforce_budget(
    text: str, groups: list[list[_Unit]], counter: TokenCounter, budget: int
) -> list[list[_Unit]]:
    """Count the exact passage texts and halve any group that is over (counts are not always additive)."""
    checked: list[list[_Unit]] = []
    pending = groups
    while pending:
        counts = count_texts(counter, [_slice(text, (group[0].start, group[-1].end)) for group in pending])
        retry: list[list[_Unit]] = []
        for group, tokens in zip(pending, counts):
            if tokens <= budget or len(group) == 1:
                checked.append(group)
            else:
                retry.extend(_halve(group))
        pending = retry
    checked.sort(key=lambda group: group[0].start)
    return checked


def _halve(group: list[_Unit]) -> list[list[_Unit]]:
    """Two non-empty runs of the group, as even in tokens as the units allow."""
    half = _tokens(group) / 2
    prefix = [sum(unit.tokens for unit in group[:i]) for i in range(1, len(group))]
    cut = 1 + min(range(len(prefix)), key=lambda i: abs(prefix[i] - half))
    return [group[:cut], group[cut:]]
