"""The sentence-transformers implementation of the Encoder protocol (see embed/protocols.py).

``sentence_transformers``/``torch`` are imported lazily: only loading and encoding need them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from embed.errors import ModelUnavailable
from embed.encode.models import load_sentence_transformer, model_id_for
from embed.encode.parallel import cpu_batch_workers, map_batches
from embed.protocols import Progress

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

# Passage size for models without a position limit (StaticEmbedding): their max_seq_length is inf.
STATIC_PASSAGE_TOKENS = 256
_UNBOUNDED = 1_000_000  # tokenizers report "no limit" as a huge model_max_length (1e30)
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")  # sentence-transformers 6 encode_document order


class ModelTokenCounter:
    """Counts tokens with the model's own tokenizer: special tokens excluded, never truncated."""

    def __init__(self, name: str, backend: Tokenizer | None, hf_tokenizer: Any = None) -> None:
        self.name = name
        self._backend = backend  # a private copy with truncation and padding switched off
        self._hf_tokenizer = hf_tokenizer  # fallback for tokenizers without a Rust backend

    def count(self, texts: Sequence[str]) -> list[int]:
        texts = list(texts)
        if not texts:
            return []
        if self._backend is not None:
            return [len(enc.ids) for enc in self._backend.encode_batch(texts, add_special_tokens=False)]
        ids = self._hf_tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        return [len(row) for row in ids]


class SentenceTransformerEncoder:
    """Encoder backed by a loaded SentenceTransformer; rows are float32, C-contiguous, L2-normalised."""

    def __init__(self, model: SentenceTransformer, model_id: str, *, workers: int | None = None) -> None:
        self.model = model
        self.workers = workers  # batches encoded at once (embed/parallel.py); None: one per CPU thread
        self.model_id = model_id
        self.dimension = int(model.get_embedding_dimension())
        self.prompts = resolve_prompts(model.prompts)
        tokenizer = _tokenizer_of(model, model_id)
        backend = _backend_of(tokenizer)
        self.counter = ModelTokenCounter(model_id, _uncapped_copy(backend), None if backend else tokenizer)
        self.special_tokens = _special_tokens(model, tokenizer, self.counter)
        self.max_tokens = _max_tokens(model, backend)

    def encode_queries(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: Progress | None = None
    ) -> np.ndarray:
        return self._encode(texts, self.model.encode_query, self.prompts["query"], batch_size, progress)

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: Progress | None = None
    ) -> np.ndarray:
        return self._encode(texts, self.model.encode_document, self.prompts["document"], batch_size, progress)

    def passage_budget(self) -> int:
        """Tokens a passage may use: max_tokens less the special tokens and the document prompt."""
        prompt = self.prompts["document"]
        prompt_tokens = self.counter.count([prompt])[0] if prompt else 0
        return max(1, self.max_tokens - self.special_tokens - prompt_tokens)

    @functools.cached_property
    def fingerprint(self) -> str:
        return model_fingerprint(self)

    def _encode(self, texts: Sequence[str], method: Any, prompt: str, batch_size: int, progress: Progress | None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        texts = list(texts)
        total = len(texts)
        out = np.zeros((total, self.dimension), dtype=np.float32)
        order = sorted(range(total), key=lambda i: -len(texts[i]))  # similar lengths share a batch
        batches = [order[start : start + batch_size] for start in range(0, total, batch_size)]

        def encode(rows: list[int]) -> Any:
            return method(
                [texts[i] for i in rows], prompt=prompt, batch_size=len(rows), show_progress_bar=False,
                convert_to_numpy=True, normalize_embeddings=True,
            )

        workers = self.workers if self.workers is not None else cpu_batch_workers(self.model)
        done = 0
        if True:
            for rows, vectors in map_batches(encode, batches, workers=workers, model=self.model):
                out[rows] = np.asarray(vectors, dtype=np.float32).reshape(len(rows), self.dimension)
                done += len(rows)
                if progress is not None:
                    progress(done, total)
        return out


def load_encoder(model: str, *, device: str | None = None) -> SentenceTransformerEncoder:
    """Load ``model`` (hub name or local dir) as an Encoder; raises ModelUnavailable."""
    return SentenceTransformerEncoder(load_sentence_transformer(model, device=device), model_id_for(model))


def resolve_prompts(prompts: dict[str, str | None] | None) -> dict[str, str]:
    """The query and document prompts a model defines ("" when none), as sentence-transformers 6 names them.

    e5-style models save ``{"query": "query: ", "passage": "passage: "}``; the first non-empty of
    document/passage/corpus is the document prompt.
    """
    prompts = prompts or {}
    document = next((prompts[name] for name in DOCUMENT_PROMPT_NAMES if prompts.get(name)), "")
    return {"query": prompts.get("query") or "", "document": document or ""}


def model_fingerprint(encoder: SentenceTransformerEncoder) -> str:
    """sha256 (32 hex chars) of the module types, dims, prompts and the first and last weight tensors.

    Tells apart two models published under one name (a re-trained or re-quantised checkpoint).
    """
    import torch

    digest = hashlib.sha256()
    header = {
        "modules": [type(module).__name__ for module in encoder.model],
        "dimension": encoder.dimension,
        "max_tokens": encoder.max_tokens,
        "prompts": encoder.prompts,
    }
    digest.update(json.dumps(header, sort_keys=True).encode("utf-8"))
    state = encoder.model.state_dict()
    keys = list(state)
    for key in dict.fromkeys(keys[:1] + keys[-1:]):
        tensor = state[key].detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{key}{tuple(tensor.shape)}".encode("utf-8"))
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:32]


def _tokenizer_of(model: SentenceTransformer, model_id: str) -> Any:
    try:
        tokenizer = model.tokenizer
    except AttributeError:
        tokenizer = None
    if tokenizer is None:
        raise ModelUnavailable(model_id, "unsupported model: its first module has no text tokenizer")
    return tokenizer


def _backend_of(tokenizer: Any) -> Tokenizer | None:
    """The Rust ``tokenizers.Tokenizer`` behind ``tokenizer`` (StaticEmbedding holds one directly)."""
    from tokenizers import Tokenizer

    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend if isinstance(backend, Tokenizer) else None


def _uncapped_copy(backend: Tokenizer | None) -> Tokenizer | None:
    """A copy without truncation or padding (e.g. MiniLM's tokenizer.json truncates at 128)."""
    if backend is None:
        return None
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(backend.to_str())
    copy.no_truncation()
    copy.no_padding()
    return copy


def _special_tokens(model: SentenceTransformer, tokenizer: Any, counter: ModelTokenCounter) -> int:
    """How many special tokens the model's first module adds to every input."""
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    if isinstance(model[0], StaticEmbedding):
        return 0  # it tokenizes with add_special_tokens=False
    if hasattr(tokenizer, "num_special_tokens_to_add"):
        return int(tokenizer.num_special_tokens_to_add(pair=False))
    backend = counter._backend
    return len(backend.encode("", add_special_tokens=True).ids) if backend is not None else 0


def _max_tokens(model: SentenceTransformer, backend: Tokenizer | None) -> int:
    """The model's input limit; for position-free models the passage size, capped by any truncation."""
    limit = model.max_seq_length
    if limit is not None and math.isfinite(limit) and 0 < limit < _UNBOUNDED:
        return int(limit)
    size = STATIC_PASSAGE_TOKENS
    truncation = backend.truncation if backend is not None else None
    if truncation and truncation.get("max_length"):
        size = min(size, int(truncation["max_length"]))
    return size
