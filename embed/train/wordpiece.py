"""Tokenizers for training a StaticEmbedding: load one, or train a WordPiece vocabulary offline.

``load_tokenizer`` accepts a ``tokenizer.json`` file, a model directory (its ``tokenizer.json``, else the
tokenizer of the sentence-transformers model in it) or a hub id, which goes through
:func:`embed.encode.models.load_sentence_transformer` and so follows its offline-safe rules (local cache or a
bundled copy first; the hub only when reachable). ``train_wordpiece`` builds a BERT-style lowercasing
WordPiece vocabulary from the training texts, so tuning needs no download at all.

Every tokenizer returned has truncation and padding switched off: a StaticEmbedding averages the
vectors of all tokens, and a tokenizer.json that truncates at 128 (MiniLM's) would silently drop the
rest of every passage. ``TokenCache`` tokenizes each training text once, as StaticEmbedding does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embed.errors import EmbedError
from embed.encode.models import is_local_path

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
DEFAULT_VOCAB_SIZE = 30_000
DEFAULT_MIN_FREQUENCY = 2


class TokenizerUnavailable(EmbedError):
    """The tokenizer named by --tokenizer cannot be read."""

    def __init__(self, spec: str, reason: str) -> None:
        super().__init__(
            f"cannot use tokenizer '{spec}': {reason}. Pass a tokenizer.json file, a model directory or a hub "
            f"id (or leave --tokenizer out to train a WordPiece vocabulary on the training texts)"
        )
        self.spec = spec
        self.reason = reason


def load_tokenizer(spec: str) -> Tokenizer:
    """The fast tokenizer named by ``spec`` (file, model directory or hub id), untruncated and unpadded.

    Raises TokenizerUnavailable, or ModelUnavailable for a hub id that is neither cached nor reachable.
    """
    path = Path(spec).expanduser()
    if path.is_file():
        return uncapped(_read_tokenizer_file(spec, path))
    if path.is_dir():
        if (path / "tokenizer.json").is_file():
            return uncapped(_read_tokenizer_file(spec, path / "tokenizer.json"))
        return uncapped(_tokenizer_of_model(spec))
    if is_local_path(spec):
        raise TokenizerUnavailable(spec, "no such file or directory")
    return uncapped(_tokenizer_of_model(spec))


def train_wordpiece(
    texts: Iterable[str], *, vocab_size: int = DEFAULT_VOCAB_SIZE, min_frequency: int = DEFAULT_MIN_FREQUENCY
) -> Tokenizer:
    """A lowercasing BERT-style WordPiece tokenizer trained on ``texts``, the same for the same texts.

    The trainer alone is not deterministic (huggingface/tokenizers#1794): it numbers the "##x" continuation
    tokens in hash-map order as it meets them, and those numbers break ties between equally frequent merges.
    Declaring every "##x" of the texts up front, sorted, numbers them the same way each run; the vocabulary
    is then put into a fresh tokenizer whose only special tokens are the usual five.
    """
    from tokenizers import Tokenizer, models, trainers

    texts = list(texts)
    trained = bert_wordpiece(Tokenizer(models.WordPiece(unk_token="[UNK]")))
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
        special_tokens=list(SPECIAL_TOKENS) + continuation_tokens(texts, trained),
    )
    trained.train_from_iterator(texts, trainer)
    tokenizer = bert_wordpiece(Tokenizer(models.WordPiece(trained.get_vocab(), unk_token="[UNK]")))
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return uncapped(tokenizer)


def bert_wordpiece(tokenizer: Tokenizer) -> Tokenizer:
    """``tokenizer`` (in place) with BERT's lowercasing normalizer, pre-tokenizer and WordPiece decoder."""
    from tokenizers import decoders, normalizers, pre_tokenizers

    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def continuation_tokens(texts: Sequence[str], tokenizer: Tokenizer) -> list[str]:
    """"##" + every character that follows another inside a word of ``texts`` (as ``tokenizer`` splits them), sorted."""
    chars: set[str] = set()
    for text in texts:
        for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(tokenizer.normalizer.normalize_str(text)):
            chars.update(word[1:])
    return ["##" + char for char in sorted(chars)]


def uncapped(tokenizer: Tokenizer) -> Tokenizer:
    """``tokenizer`` with truncation and padding switched off (in place); returns it."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _read_tokenizer_file(spec: str, file: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(file))
    except Exception as exc:  # tokenizers raises a bare Exception for malformed json
        detail = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise TokenizerUnavailable(spec, f"{file} is not a tokenizers tokenizer.json ({detail})") from exc


def _tokenizer_of_model(spec: str) -> Tokenizer:
    """The Rust tokenizer of the sentence-transformers model ``spec`` (loaded by the offline-safe rules)."""
    from tokenizers import Tokenizer

    from embed.encode.models import load_sentence_transformer

    model = load_sentence_transformer(spec, device="cpu")
    tokenizer: Any = getattr(model, "tokenizer", None)
    backend = tokenizer if isinstance(tokenizer, Tokenizer) else getattr(tokenizer, "backend_tokenizer", None)
    if not isinstance(backend, Tokenizer):
        raise TokenizerUnavailable(spec, "the model has no fast (Rust-backed) tokenizer")
    return Tokenizer.from_str(backend.to_str())  # a private copy: the caller changes its settings


class TokenCache:
    """Every distinct text tokenized once (StaticEmbedding's way: no special tokens, no truncation)."""

    def __init__(self, tokenizer: Tokenizer, texts: Sequence[str]) -> None:
        unique = list(dict.fromkeys(texts))
        encoded = tokenizer.encode_batch(unique, add_special_tokens=False)
        self.ids = {text: np.asarray(enc.ids, dtype=np.int64) for text, enc in zip(unique, encoded)}

    def features(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """The ``input_ids``/``offsets`` dict StaticEmbedding.forward reads."""
        import torch

        rows = [self.ids[text] for text in texts]
        lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
        offsets = np.concatenate([[0], np.cumsum(lengths[:-1])]) if rows else np.zeros(0, dtype=np.int64)
        flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        return {"input_ids": torch.from_numpy(flat), "offsets": torch.from_numpy(offsets.astype(np.int64))}
