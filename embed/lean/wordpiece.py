"""BERT WordPiece in Python for plain-ASCII questions: the quickest start for a cold question.

Why: building ``tokenizers.Tokenizer`` from a BERT tokenizer.json costs ~30 ms, and importing it ~8 ms, on
every cold question -- for a dozen dictionary look-ups. This reads the vocabulary (one JSON list, ~5 ms) and
splits the question itself. It only answers where BERT's rules are simple and hands everything else to
``tokenizers`` (loaded on first need, so the result is always the library's):

- the tokenizer.json must be the standard BERT pipeline, checked field by field (``plain_bert``): BertNormalizer
  with clean_text, BertPreTokenizer, WordPiece, [CLS] A [SEP] template, right truncation and padding;
- the text must be ASCII (no accents, CJK or Unicode categories to agree on) and hold no added token's text.

The vocabulary and settings are kept beside tokenizer.json as ``wordpiece.json``, made on the first quick load
and tied to tokenizer.json by a hash of its bytes.
tests/test_wordpiece.py checks that both tokenizers agree on generated and hand-picked text.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUICK_FILE = "wordpiece.json"
QUICK_FORMAT = "semsearch-wordpiece"
QUICK_VERSION = 1
# After clean_text the only whitespace left is " "; each ASCII punctuation character is a word of its own.
PIECES = re.compile(r"[!-/:-@\[-`{-~]|[^ !-/:-@\[-`{-~]+")
# BertNormalizer's clean_text on ASCII: control characters go, tab / newline / return become spaces.
CLEAN = {code: None for code in [*range(32), 127] if chr(code) not in "\t\n\r"} | {ord(c): " " for c in "\t\n\r"}


@dataclass(frozen=True)
class Encoding:
    """The fields of ``tokenizers.Encoding`` that the lean encoders read."""

    ids: list[int]
    type_ids: list[int]
    attention_mask: list[int]


def plain_bert(config: dict[str, Any]) -> dict[str, Any] | None:
    """The settings ``QuickWordPiece`` needs when ``config`` (a parsed tokenizer.json) is plain BERT, else None."""
    norm, pre, model, post = (config.get(k) or {} for k in ("normalizer", "pre_tokenizer", "model", "post_processor"))
    trunc, pad = config.get("truncation"), config.get("padding")
    vocab = model.get("vocab")
    checks = (
        norm.get("type") == "BertNormalizer" and norm.get("clean_text") is True,
        pre == {"type": "BertPreTokenizer"},
        model.get("type") == "WordPiece" and isinstance(vocab, dict) and model.get("unk_token") in (vocab or {}),
        sorted((vocab or {}).values()) == list(range(len(vocab or {}))),
        trunc is None or (trunc.get("direction") == "Right" and trunc.get("stride") == 0 and trunc.get("max_length", 0) >= 2),
        pad is None or (pad.get("strategy") == "BatchLongest" and pad.get("direction") == "Right"
                        and pad.get("pad_to_multiple_of") is None),
    )
    specials = _template(post, vocab or {})
    if not all(checks) or specials is None:
        return None
    return {
        "lowercase": bool(norm.get("lowercase")),
        "unk": vocab[model["unk_token"]],
        "prefix": str(model.get("continuing_subword_prefix", "##")),
        "max_chars": int(model.get("max_input_chars_per_word", 100)),
        "cls": specials[0],
        "sep": specials[1],
        "max_length": None if trunc is None else int(trunc["max_length"]),
        "pad": None if pad is None else [int(pad.get("pad_id", 0)), int(pad.get("pad_type_id", 0))],
        "added": sorted({str(t.get("content", "")) for t in config.get("added_tokens") or []} - {""}),
        "vocab": sorted(vocab, key=vocab.__getitem__),
    }


def _template(post: dict[str, Any], vocab: dict[str, int]) -> tuple[int, int] | None:
    """(cls id, sep id) of a [CLS] $A [SEP] post-processor with type ids 0, else None."""
    if post.get("type") == "BertProcessing":
        return int(post["cls"][1]), int(post["sep"][1])
    if post.get("type") != "TemplateProcessing":
        return None
    single = post.get("single") or []
    shape = [next(iter(part)) for part in single]
    if shape != ["SpecialToken", "Sequence", "SpecialToken"] or any(next(iter(p.values())).get("type_id") for p in single):
        return None
    ids = []
    for part in (single[0], single[2]):
        token = post.get("special_tokens", {}).get(part["SpecialToken"]["id"], {}).get("ids") or []
        if len(token) != 1:
            return None
        ids.append(int(token[0]))
    return ids[0], ids[1]


class QuickWordPiece:
    """``encode`` / ``encode_batch`` as ``tokenizers.Tokenizer`` gives them; anything else goes to the library."""

    def __init__(self, settings: dict[str, Any], tokenizer_path: Path) -> None:
        self.settings = settings
        self.vocab = dict(zip(settings["vocab"], range(len(settings["vocab"]))))
        self.path = tokenizer_path
        self._full: Any = None

    @property
    def full(self) -> Any:
        if self._full is None:
            from tokenizers import Tokenizer

            self._full = Tokenizer.from_file(str(self.path))
        return self._full

    def __getattr__(self, name: str) -> Any:  # to_str, get_added_tokens_decoder, ...: the library's own
        return getattr(self.full, name)

    def handles(self, text: str) -> bool:
        if not text.isascii():
            return False
        lowered = text.lower()
        return not any(token in text or token in lowered for token in self.settings["added"])

    def encode(self, text: str, add_special_tokens: bool = True) -> Any:
        return self.encode_batch([text], add_special_tokens=add_special_tokens)[0]

    def encode_batch(self, texts: Iterable[str], add_special_tokens: bool = True) -> list[Any]:
        texts = list(texts)
        if not all(isinstance(text, str) and self.handles(text) for text in texts):
            return self.full.encode_batch(texts, add_special_tokens=add_special_tokens)
        rows = [self.ids(text, add_special_tokens) for text in texts]
        pad = self.settings["pad"]
        width = max((len(row) for row in rows), default=0) if pad else 0
        return [self.padded(row, width, pad) for row in rows]

    def ids(self, text: str, add_special_tokens: bool) -> list[int]:
        text = text.translate(CLEAN)
        if self.settings["lowercase"]:
            text = text.lower()
        ids = [i for word in PIECES.findall(text) for i in self.word_ids(word)]
        room = self.settings["max_length"]
        if add_special_tokens:
            room = None if room is None else room - 2
            return [self.settings["cls"], *ids[:room], self.settings["sep"]]
        return ids[:room]

    def word_ids(self, word: str) -> list[int]:
        """Greedy longest-match WordPiece; a word with any piece missing is one [UNK]."""
        if len(word) > self.settings["max_chars"]:
            return [self.settings["unk"]]
        ids, start, prefix = [], 0, self.settings["prefix"]
        while start < len(word):
            for end in range(len(word), start, -1):
                found = self.vocab.get(word[start:end] if start == 0 else prefix + word[start:end])
                if found is not None:
                    break
            else:
                return [self.settings["unk"]]
            ids.append(found)
            start = end
        return ids

    @staticmethod
    def padded(row: list[int], width: int, pad: list[int] | None) -> Encoding:
        fill = max(0, width - len(row)) if pad else 0
        ids = row + [pad[0]] * fill if fill else row
        types = [0] * len(row) + ([pad[1]] * fill if fill else [])
        return Encoding(ids, types, [1] * len(row) + [0] * fill)


def load_quick(directory: Path) -> QuickWordPiece | None:
    """The quick tokenizer of a lean directory, or None when its tokenizer is not plain BERT.

    Reads ``wordpiece.json`` when it was made from this very tokenizer.json (a hash of its bytes, ~1 ms);
    otherwise derives it and keeps it for the next question when the folder is writable (a read-only cache
    costs each question ~20 ms more).
    """
    tokenizer = directory / "tokenizer.json"
    try:
        source = tokenizer.read_bytes()
    except OSError:
        return None
    digest = hashlib.blake2b(source, digest_size=16).hexdigest()
    try:
        kept = json.loads((directory / QUICK_FILE).read_text(encoding="utf-8"))
        if kept.get("format") == QUICK_FORMAT and kept.get("version") == QUICK_VERSION and kept.get("source") == digest:
            return QuickWordPiece(kept["settings"], tokenizer) if kept.get("settings") else None
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        pass
    try:
        settings = plain_bert(json.loads(source))
    except (ValueError, AttributeError, KeyError, TypeError, IndexError, StopIteration):
        return None
    keep(directory, {"format": QUICK_FORMAT, "version": QUICK_VERSION, "source": digest, "settings": settings})
    return QuickWordPiece(settings, tokenizer) if settings else None


def keep(directory: Path, record: dict[str, Any]) -> None:
    """Write ``wordpiece.json`` whole or not at all; a read-only folder is not an error."""
    tmp = directory / f".{QUICK_FILE}.tmp-{os.getpid()}"
    try:
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, directory / QUICK_FILE)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
