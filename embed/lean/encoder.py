"""Lean encoders: the Encoder protocol without torch, transformers or sentence-transformers.

A lean directory is written once per model by :mod:`embed.lean.export` and holds

    lean.json        kind ("bert" | "onnx" | "static"), dimension, pooling, max_seq_length, prompts, source model
    tokenizer.json   the model's own tokenizer (``tokenizers``), truncating at max_seq_length
    bert.npy         kind "bert": a BertModel's weights, run in numpy (embed/numpy_bert.py; quickest start)
    model.onnx       kind "onnx": any other transformer, input ids -> token embeddings (onnxruntime), its
                     weights in model.onnx.data (mapped, not parsed: loads twice as fast)
    embeddings.npy   kind "static": one row per vocabulary entry (StaticEmbedding)

Prompts, pooling (the saved Pooling config) and L2 normalisation run in numpy, so the vectors match
``SentenceTransformer.encode`` on the same texts. Loading never imports torch; every problem with the
files is :class:`LeanUnavailable`, so callers can fall back to the full sentence-transformers path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embed.errors import EmbedError
from embed.protocols import Progress

LEAN_FORMAT = "semsearch-lean"
LEAN_VERSION = 1
LEAN_JSON = "lean.json"
TOKENIZER_FILE = "tokenizer.json"
ONNX_FILE = "model.onnx"
STATIC_FILE = "embeddings.npy"
POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len_tokens")


class LeanUnavailable(EmbedError):
    """A lean encoder cannot be loaded or made (missing or damaged files, an unsupported model)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class LeanTokenCounter:
    """Counts tokens like the model's tokenizer: special tokens excluded, never truncated."""

    def __init__(self, name: str, tokenizer: Any) -> None:
        self.name = name
        self._tokenizer = tokenizer
        self._backend: Any = None  # an uncapped copy, made on first use (questions never count tokens)

    def count(self, texts: Sequence[str]) -> list[int]:
        texts = list(texts)
        if not texts:
            return []
        if self._backend is None:
            from tokenizers import Tokenizer

            self._backend = Tokenizer.from_str(self._tokenizer.to_str())
            self._backend.no_truncation()
            self._backend.no_padding()
        return [len(enc.ids) for enc in self._backend.encode_batch(texts, add_special_tokens=False)]


class LeanEncoder:
    """Shared part of both lean kinds: settings from lean.json, tokenizer, prompts, batching."""

    def __init__(self, directory: Path, settings: dict[str, Any], tokenizer: Any) -> None:
        self.directory = directory
        self.settings = settings
        self.model_id = str(settings["model_id"])
        self.fingerprint = settings.get("fingerprint")
        self.dimension = int(settings["dimension"])
        self.max_tokens = int(settings["max_tokens"])
        self.special_tokens = int(settings["special_tokens"])
        self.prompts = {"query": settings["prompts"].get("query", ""), "document": settings["prompts"].get("document", "")}
        self.tokenizer = tokenizer
        self.counter = LeanTokenCounter(self.model_id, tokenizer)

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        return self._encode(texts, self.prompts["query"], batch_size, progress)

    def encode_documents(self, texts: Sequence[str], *, batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        return self._encode(texts, self.prompts["document"], batch_size, progress)

    def passage_budget(self) -> int:
        """Tokens a passage may use: max_tokens less the special tokens and the document prompt."""
        prompt = self.prompts["document"]
        prompt_tokens = self.counter.count([prompt])[0] if prompt else 0
        return max(1, self.max_tokens - self.special_tokens - prompt_tokens)

    def _encode(self, texts: Sequence[str], prompt: str, batch_size: int, progress: Progress | None) -> np.ndarray:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        texts = [prompt + text for text in texts]
        total = len(texts)
        out = np.zeros((total, self.dimension), dtype=np.float32)
        order = sorted(range(total), key=lambda i: -len(texts[i]))  # similar lengths share a batch
        batches = [order[start : start + batch_size] for start in range(0, total, batch_size)]
        done = 0
        for rows, vectors in self.map_batches(lambda rows: (rows, self._embed([texts[i] for i in rows], prompt)), batches):
            out[rows] = vectors
            done += len(rows)
            if progress is not None:
                progress(done, total)
        return out

    def map_batches(self, embed: Any, batches: list[list[int]]) -> Any:
        """(rows, vectors) of each batch, in order; one after the other here (a subclass may overlap them)."""
        return map(embed, batches)

    def _embed(self, texts: list[str], prompt: str) -> np.ndarray:
        raise NotImplementedError


class TransformerLean(LeanEncoder):
    """A transformer's token embeddings (``run``, by a subclass); pooling and normalisation in numpy."""

    def __init__(self, directory: Path, settings: dict[str, Any], tokenizer: Any) -> None:
        super().__init__(directory, settings, tokenizer)
        self.pooling = [str(mode) for mode in settings["pooling"]]
        self.include_prompt = bool(settings.get("include_prompt", True))
        self._prompt_lengths: dict[str, int] = {}

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def feeds(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Token ids, attention mask and token types of ``texts``, padded to the longest, truncated at the limit."""
        encodings = self.tokenizer.encode_batch(texts)
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }

    def _embed(self, texts: list[str], prompt: str) -> np.ndarray:
        feeds = self.feeds(texts)
        tokens = self.run(feeds)
        mask = feeds["attention_mask"]
        if prompt and not self.include_prompt:
            mask = mask.copy()
            mask[:, : self.prompt_length(prompt)] = 0
        return normalise(pool(tokens.astype(np.float32, copy=False), mask, self.pooling))

    def prompt_length(self, prompt: str) -> int:
        """Tokens of the prompt (with the leading special token, without a trailing one), as ST counts them."""
        if prompt not in self._prompt_lengths:
            ids = self.tokenizer.encode(prompt).ids
            special = {i for i, t in self.tokenizer.get_added_tokens_decoder().items() if t.special}
            self._prompt_lengths[prompt] = len(ids) - (1 if ids and ids[-1] in special else 0)
        return self._prompt_lengths[prompt]


class OnnxEncoder(TransformerLean):
    """kind "onnx": the transformer run by onnxruntime (any architecture torch.onnx can export)."""

    def __init__(self, directory: Path, settings: dict[str, Any], tokenizer: Any, session: Any) -> None:
        super().__init__(directory, settings, tokenizer)
        self.session = session
        self.input_names = [i.name for i in session.get_inputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, {name: feeds[name] for name in self.input_names})[0]


class BertEncoder(TransformerLean):
    """kind "bert": a BertModel run in numpy (embed/numpy_bert.py): the quickest start for a question."""

    def __init__(self, directory: Path, settings: dict[str, Any], tokenizer: Any, bert: Any) -> None:
        super().__init__(directory, settings, tokenizer)
        self.bert = bert

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.bert.token_embeddings(feeds["input_ids"], feeds["attention_mask"], feeds["token_type_ids"])


class StaticLeanEncoder(LeanEncoder):
    """StaticEmbedding in numpy: the mean of the token rows (no special tokens), then L2."""

    def __init__(self, directory: Path, settings: dict[str, Any], tokenizer: Any, table: np.ndarray) -> None:
        super().__init__(directory, settings, tokenizer)
        self.table = table

    def _embed(self, texts: list[str], prompt: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, enc in enumerate(self.tokenizer.encode_batch(texts, add_special_tokens=False)):
            if enc.ids:
                out[row] = self.table[np.asarray(enc.ids, dtype=np.int64)].mean(axis=0)
        return normalise(out)


def pool(tokens: np.ndarray, mask: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """sentence-transformers Pooling on padded (batch, seq, dim) token embeddings; modes concatenated."""
    weights = mask[..., None].astype(np.float32)
    parts = []
    for mode in modes:
        if mode == "cls":
            parts.append(tokens[np.arange(len(tokens)), mask.argmax(axis=1)])
        elif mode == "max":
            parts.append(np.where(weights > 0, tokens, -np.inf).max(axis=1))
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            count = np.clip(weights.sum(axis=1), 1e-9, None)
            parts.append((tokens * weights).sum(axis=1) / (count if mode == "mean" else np.sqrt(count)))
        else:
            raise LeanUnavailable("pooling", f"unsupported pooling mode {mode!r}")
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def normalise(rows: np.ndarray) -> np.ndarray:
    """L2-normalise rows (float32, C-contiguous); an all-zero row stays zero, as torch's normalize leaves it."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.ascontiguousarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)


def read_settings(directory: Path) -> dict[str, Any]:
    """lean.json, checked for format, version and that the files it names are whole (by size)."""
    path = directory / LEAN_JSON
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LeanUnavailable(str(directory), f"no {LEAN_JSON}") from None
    except (OSError, ValueError) as exc:
        raise LeanUnavailable(str(path), f"unreadable ({exc})") from None
    if not isinstance(settings, dict) or settings.get("format") != LEAN_FORMAT:
        raise LeanUnavailable(str(path), "not a semsearch lean encoder")
    if settings.get("version") != LEAN_VERSION:
        raise LeanUnavailable(str(path), f"version {settings.get('version')} is not {LEAN_VERSION}")
    for name, size in dict(settings.get("files", {})).items():
        file = directory / name
        if not file.is_file():
            raise LeanUnavailable(str(directory), f"{name} is missing")
        if file.stat().st_size != size:
            raise LeanUnavailable(str(file), f"damaged ({file.stat().st_size} bytes, expected {size})")
    return settings


def load_lean(directory: str | Path, *, threads: int | None = None) -> LeanEncoder:
    """Load the lean encoder in ``directory``; raises LeanUnavailable for any problem with its files.

    ``threads``: None sets it up for a quick start (questions: onnxruntime's light session, the Python
    WordPiece of embed/lean/wordpiece.py); a number, for throughput.
    """
    directory = Path(directory)
    settings = read_settings(directory)
    try:
        tokenizer = load_tokenizer(directory, quick=threads is None)
        if settings.get("kind") == "onnx":
            return OnnxEncoder(directory, settings, tokenizer, _session(directory / ONNX_FILE, threads))
        if settings.get("kind") == "bert":
            from embed.lean.numpy_bert import WEIGHTS_FILE, NumpyBert

            return BertEncoder(directory, settings, tokenizer, NumpyBert.load(directory / WEIGHTS_FILE, settings["bert"]))
        if settings.get("kind") == "static":
            table = np.load(directory / STATIC_FILE, mmap_mode="r", allow_pickle=False)
            if table.ndim != 2 or table.shape[1] != int(settings["dimension"]):
                raise LeanUnavailable(str(directory / STATIC_FILE), f"shape {table.shape} does not match the model")
            return StaticLeanEncoder(directory, settings, tokenizer, table)
    except LeanUnavailable:
        raise
    except Exception as exc:  # tokenizers / onnxruntime / numpy raise assorted types for damaged files
        raise LeanUnavailable(str(directory), f"damaged ({' '.join(str(exc).split())[:200]})") from exc
    raise LeanUnavailable(str(directory), f"unknown kind {settings.get('kind')!r}")


def load_tokenizer(directory: Path, *, quick: bool = False) -> Any:
    """The model's tokenizer; ``quick``: the Python WordPiece for a question when the model's is plain BERT."""
    if quick:
        from embed.lean.wordpiece import load_quick

        found = load_quick(directory)
        if found is not None:
            return found
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(directory / TOKENIZER_FILE))


def _session(path: Path, threads: int | None) -> Any:
    """An onnxruntime session. ``threads=None``: set up for one short question in a fresh process
    (one thread, no weight prepacking, no memory arena: about a third of the start-up work).
    ``threads=N``: N threads with prepacked weights, for encoding many texts."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # warnings would reach the user's terminal
    # the file is already optimised at export; re-optimising on every start costs more than it saves
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    if threads is None:
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = False
        options.add_session_config_entry("session.disable_prepacking", "1")
    else:
        options.intra_op_num_threads = max(1, int(threads))
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
