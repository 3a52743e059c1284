"""Cut a document's text into paragraph and sentence spans (character offsets; no text is ever lost).

Every span is ``(start, end)`` into the original text, trimmed of surrounding whitespace; together the
spans cover every non-space character exactly once.
"""

from __future__ import annotations

import re

Span = tuple[int, int]

_BLANK_LINES = re.compile(r"\n[^\S\n]*(?:\n[^\S\n]*)+|\u2029+")
# A non-breaking space with other whitespace beside it marks a paragraph (a lone one glues "10\xa0km").
_NBSP_MARK = re.compile(r"\s*(?:\s\u00a0|\u00a0\s)\s*")
_SENTENCE_END = re.compile(
    r"[.!?\u2026]+[\"'\u201d\u2019\u00bb)\]]*(?=\s|$)"  # Latin: needs a space (or the end) after it
    r"|[\u3002\uff01\uff1f]+[\u300d\u300f\u201d\u2019\uff09]*"  # CJK full stops: no space follows
)
_NEWLINE = re.compile(r"\n")
_WORD = re.compile(r"\S+")
_ACRONYM = re.compile(r"(?:[A-Za-z]\.){2,}$")
_CLAUSE_PUNCT = re.compile(r"[,;:.!?\u2026](?!\w)")  # "U.S." and "theory.[1]" have it, "3.5" not
_NOT_FINAL = re.compile(r"[,;:&(\[\u2013\u2014-]$")

# Abbreviations whose dot never ends a sentence, and those that do only before a common opener.
_TITLES = frozenset(
    "mr mrs ms dr prof st jr sr gen gov sen rep lt col capt sgt mt fig no nos vs v e.g i.e cf al inc ltd co "
    "corp dept est approx jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_SOFT_ABBREVIATIONS = frozenset("etc".split())
_FUNCTION_WORDS = frozenset(
    "a an the of to in on at by for with from into onto upon about as and or but nor so yet if than that "
    "which who whom whose this these those its his her their our your my is are was were be been being "
    "has have had do does did not no will would shall should can could may might must over under after "
    "before between among against through during without within via per when where while because whether "
    "how what why then also only just very".split()
)
# Headlines drop articles, auxiliaries and possessive pronouns ("headlinese"); prose is full of them.
_NOT_IN_HEADLINES = frozenset(
    "the a an is are was were be been being has have had do does did his her their its my our your".split()
)
# Words that open sentences but are almost never capitalised inside one.
_COMMON_OPENERS = frozenset(
    "On In At For With From By After Before During Given According The An He She It They We His Her Its "
    "Their Our This That These Those There But And Or So Yet However Meanwhile Also Additionally "
    "Furthermore Moreover While When Although Though Despite As If Since Speaking Referring Following "
    "Earlier Later Now Today Yesterday Asked Under Amid Regarding Among Such Some Many Most".split()
)
# Words that follow a subject name at the start of a clause ("Kanaani also ...", "Smith said ...").
_CLAUSE_CONTINUERS = frozenset(
    "also said says added stated noted told asked explained argued warned insisted stressed emphasized "
    "further then has had is was will would could can may might should must does did went continued".split()
)
_HEADING_WORDS = (3, 12)
_NAMED_HEADING_WORDS = 5  # a heading followed by a name (not a common opener) needs more evidence
_OPENING = "\"'\u201c\u2018(["
_SHORT_LINE_WORDS, _SHORT_LINE_CHARS = 20, 200


def split_sentences(text: str, start: int, end: int) -> list[Span]:
    """Sentence spans covering ``text[start:end]``: ends at . ! ? (plus closing quotes), not abbreviations."""
    spans: list[Span] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        if _is_sentence_end(text, match, end):
            spans.extend(_trim(text, cursor, match.end()))
            cursor = match.end()
    spans.extend(_trim(text, cursor, end))
    return spans


def split_paragraphs(text: str) -> list[Span]:
    """Paragraph spans: blank lines, NBSP markers, headline-like lines and run-in subheadings start one."""
    blocks = [_split_soft(text, block) for block in _split_on(text, _BLANK_LINES, (0, len(text)))]
    openers = _sentence_openers(text, [seg for block in blocks for seg in block])
    paragraphs: list[Span] = []
    for block in blocks:
        for seg in _move_heading_tails(text, block):
            paragraphs.extend(_split_run_in_headings(text, seg, openers))
    return paragraphs


def _is_sentence_end(text: str, match: re.Match[str], end: int) -> bool:
    following = _WORD.search(text, match.end(), end)
    if following is None:
        return True
    nxt = following.group()
    first = nxt.lstrip(_OPENING)
    if not first or first[0].islower():
        return False
    if match.group()[0] != ".":
        return True
    word = _word_before(text, match.start()).lstrip(_OPENING).lower()
    if word in _TITLES or (len(word) == 1 and word.isalpha()):
        return False
    if word in _SOFT_ABBREVIATIONS or _ACRONYM.search(word + "."):
        return _bare(nxt) in _COMMON_OPENERS
    return True


def _word_before(text: str, end: int) -> str:
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:end]


def _trim(text: str, start: int, end: int) -> list[Span]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [(start, end)] if start < end else []


def _split_on(text: str, pattern: re.Pattern[str], span: Span) -> list[Span]:
    spans: list[Span] = []
    cursor = span[0]
    for match in pattern.finditer(text, span[0], span[1]):
        spans.extend(_trim(text, cursor, match.start()))
        cursor = match.end()
    spans.extend(_trim(text, cursor, span[1]))
    return spans


def _split_soft(text: str, block: Span) -> list[Span]:
    """Split a blank-line block at headline-like line ends and at NBSP paragraph markers."""
    return [piece for group in _split_lines(text, block) for piece in _split_on(text, _NBSP_MARK, group)]


def _split_lines(text: str, block: Span) -> list[Span]:
    """Inside a block, a single newline ends a paragraph after a short unfinished or a finished line."""
    lines = _split_on(text, _NEWLINE, block)
    if len(lines) < 2:
        return lines
    lengths = [end - start for start, end in lines]
    wrapped = max(lengths) <= 100 and sum(n >= 40 for n in lengths) >= 2
    groups: list[Span] = []
    group_start = lines[0][0]
    for (start, end), (nxt_start, _) in zip(lines, lines[1:]):
        line = text[start:end]
        if _ends_line_paragraph(line, text[nxt_start], wrapped and (end - start) >= 0.7 * max(lengths)):
            groups.append((group_start, end))
            group_start = nxt_start
    groups.append((group_start, lines[-1][1]))
    return groups


def _ends_line_paragraph(line: str, next_char: str, wrap_length: bool) -> bool:
    starts_paragraph = next_char.isupper() or next_char in _OPENING
    if not starts_paragraph or wrap_length or line[0].islower() or _NOT_FINAL.search(line):
        return False
    if line.split()[-1].lower() in _FUNCTION_WORDS:
        return False
    if _SENTENCE_END.search(line[-4:]):
        return True
    return len(line.split()) <= _SHORT_LINE_WORDS and len(line) <= _SHORT_LINE_CHARS


def _move_heading_tails(text: str, segments: list[Span]) -> list[Span]:
    """An unfinished heading-like tail after a segment's last sentence belongs to the next segment."""
    moved = list(segments)
    for i in range(len(moved) - 1):
        start, end = moved[i]
        sentences = split_sentences(text, start, end)
        tail = sentences[-1]
        if len(sentences) > 1 and _is_heading(text[tail[0] : tail[1]].split()):
            moved[i] = (start, sentences[-2][1])
            moved[i + 1] = (tail[0], moved[i + 1][1])
    return moved


def _sentence_openers(text: str, segments: list[Span]) -> frozenset[str]:
    """Capitalised words that open a sentence somewhere in the document (e.g. a frequent subject name)."""
    openers = set()
    for start, end in segments:
        for s_start, s_end in split_sentences(text, start, end):
            first = _bare(text[s_start:s_end].split(maxsplit=1)[0])
            if first[:1].isupper():
                openers.add(first)
    return frozenset(openers)


def _split_run_in_headings(text: str, segment: Span, openers: frozenset[str]) -> list[Span]:
    cuts = []
    for start, end in split_sentences(text, *segment)[1:]:
        if _run_in_heading(text[start:end], openers):
            cuts.append(start)
    bounds = [segment[0], *cuts, segment[1]]
    return [span for a, b in zip(bounds, bounds[1:]) for span in _trim(text, a, b)]


def _run_in_heading(sentence: str, openers: frozenset[str]) -> bool:
    """A sentence opening with a 3-12 word headline phrase followed by a clause-opening word.

    The word after the phrase is a common opener (On, Given, The, ...) or a name that opens other
    sentences of the document; a name needs a longer phrase and must not be possessive.
    """
    words = sentence.split(maxsplit=_HEADING_WORDS[1] + 2)
    for k in range(_HEADING_WORDS[0], min(_HEADING_WORDS[1], len(words) - 2) + 1):
        if _CLAUSE_PUNCT.search(words[k - 1]):
            return False
        word, after = words[k], _bare(words[k + 1])
        if not _opens_clause(word, after) or not _is_heading(words[:k]):
            continue
        if _bare(word) in _COMMON_OPENERS:
            return True
        long_enough = k >= _NAMED_HEADING_WORDS and words[0] not in _COMMON_OPENERS
        if long_enough and _opens_named_clause(word, after, openers):
            return True
    return False


def _opens_named_clause(word: str, after: str, openers: frozenset[str]) -> bool:
    """``Kanaani also ...``: a name that opens other sentences, then a word that continues a clause."""
    name = _bare(word)
    if not name.istitle() or name not in openers:
        return False
    return after in _CLAUSE_CONTINUERS


def _opens_clause(word: str, after: str) -> bool:
    """A capitalised word (not quoted, not an initial) followed by a lowercase one."""
    bare = _bare(word)
    if len(bare) < 2 or not bare[0].isupper() or word[0] in _OPENING or word.endswith("."):
        return False
    return after[:1].islower()


def _is_heading(words: list[str]) -> bool:
    """3-12 words, capitalised start, no inner punctuation, headline style, no function word at the end."""
    if not _HEADING_WORDS[0] <= len(words) <= _HEADING_WORDS[1] or not words[0][:1].isupper():
        return False
    if len(words[0]) == 1 or any(_CLAUSE_PUNCT.search(word) for word in words):
        return False
    if any(word.lower() in _NOT_IN_HEADLINES for word in words[1:]):
        return False
    return words[-1].lower() not in _FUNCTION_WORDS


def _bare(word: str) -> str:
    return word.strip("\"'\u201c\u201d\u2018\u2019()[],;:.!?")
