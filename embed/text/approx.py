"""Token counters: a model-free conservative estimate, and an exact one over a `tokenizers.Tokenizer`."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_PIECE = re.compile(r"\w+|[^\w\s]")
_SAFETY = 1.3


class ApproxCounter:
    """Offline fallback: a deliberately generous estimate of WordPiece counts (never needs a model).

    Plain ASCII words cost 1 token up to 6 letters and 1 more per 3 letters beyond; numbers, codes,
    mixed-case words and vowel-less letter soup 2 per 3 characters; punctuation 1 each; a non-ASCII
    word 1 per character (3 per Hangul syllable), since CJK and most non-Latin scripts tokenize per
    character; the sum is then raised by 30 %. It is an estimate, not a bound: use the model's
    tokenizer whenever it is available.
    """

    name = "approx"

    def count(self, texts: Sequence[str]) -> list[int]:
        return [estimate_tokens(text) for text in texts]


def estimate_tokens(text: str) -> int:
    raw = sum(_piece_cost(piece) for piece in _PIECE.findall(text))
    return math.ceil(raw * _SAFETY)


def _piece_cost(piece: str) -> int:
    if not piece[0].isalnum() and piece[0] != "_":
        return 1
    if piece.isascii():
        return _ascii_word_cost(piece)
    return sum(_char_cost(ch) for ch in piece)


def _ascii_word_cost(word: str) -> int:
    """Plain words are one token up to 6 letters; codes, numbers, mixed case and letter soup split finer."""
    plain = word.isalpha() and (word.islower() or word.istitle() or (word.isupper() and len(word) <= 5))
    if plain and sum(ch in "aeiouyAEIOUY" for ch in word) * 4 >= len(word):
        return 1 + math.ceil(max(0, len(word) - 6) / 3)
    return math.ceil(len(word) * 2 / 3)


def _char_cost(ch: str) -> int:
    if ch.isascii():
        return 1
    if "HANGUL" in unicodedata.name(ch, ""):
        return 3  # syllables decompose into 2-3 jamo under NFD
    return 1


class TokenizersCounter:
    """Exact counts from a Hugging Face `tokenizers.Tokenizer` (special tokens excluded, no truncation)."""

    def __init__(self, tokenizer: Tokenizer, name: str) -> None:
        from tokenizers import Tokenizer as _Tokenizer

        copy: Any = _Tokenizer.from_str(tokenizer.to_str())
        copy.no_truncation()
        copy.no_padding()
        self._tokenizer = copy
        self.name = name

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None) -> TokenizersCounter:
        from tokenizers import Tokenizer as _Tokenizer

        return cls(_Tokenizer.from_file(str(path)), name or str(path))

    def count(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(encoding.ids) for encoding in encodings]
