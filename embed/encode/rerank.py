"""Cross-encoder rerankers: load one by the offline-safe rules, cut passages to its limit, score (query, passage) pairs.

    from embed.encode.rerank import load_reranker
    reranker = load_reranker()                    # cross-encoder/ms-marco-MiniLM-L6-v2, or RerankerUnavailable
    reranker.score("who wrote it?", ["passage one", "passage two"])   # one float per passage, higher = better

A model is a hub id or a local directory, found as ``embed.encode.models`` finds embedding models: a
local path is used as it is; a hub id is looked up in the local Hugging Face cache first and downloaded
only when ``HF_HUB_OFFLINE`` is not set and the hub answers a short probe, so it never hangs offline.
A cross-encoder reads query and passage together, at most ``max_tokens`` tokens: passages are cut (at a
token boundary, query kept whole) to fit, so nothing is silently dropped in the model's own truncation.
``sentence_transformers`` is imported only when a reranker is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from embed.errors import EmbedError, ModelUnavailable

DEFAULT_RERANKER = "cross-encoder/ms-marco-MiniLM-L6-v2"
FALLBACK_MAX_TOKENS = 512
SPECIAL_TOKENS = 3  # [CLS] query [SEP] passage [SEP]
BATCH_SIZE = 16


class RerankerUnavailable(ModelUnavailable):
    """The cross-encoder for --rerank could not be loaded."""

    def __init__(self, model: str, reason: str) -> None:  # noqa: super's message names --model, not --rerank
        EmbedError.__init__(
            self,
            f"cannot load reranking model '{model}': {reason}. Fixes: connect to the network once so the "
            f"model is downloaded into the Hugging Face cache (or point HF_HOME at a cache that holds it); "
            f"or pass --rerank-model /path/to/a/cross-encoder/dir; or leave out --rerank",
        )
        self.model = model
        self.reason = reason


class Reranker:
    """A loaded CrossEncoder with its token limit; ``score`` rates passages for a query."""

    def __init__(self, model, model_id: str) -> None:
        self.model = model
        self.model_id = model_id
        self.tokenizer = model.tokenizer
        self.max_tokens = model_limit(model)

    def cut(self, query: str, passage: str) -> str:
        """``passage`` cut at a token boundary so that query + passage fit in ``max_tokens``."""
        query_tokens = len(self.tokenizer(query, add_special_tokens=False)["input_ids"])
        return self.cut_to(passage, max(1, self.max_tokens - SPECIAL_TOKENS - query_tokens))

    def cut_to(self, text: str, room: int) -> str:
        """``text`` cut after its first ``room`` tokens (whole when it has no more)."""
        encoded = self.tokenizer(  # one token past the room tells whether it fits, without reading it all
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=True, max_length=room + 1
        )
        offsets = encoded["offset_mapping"]
        return text if len(offsets) <= room else text[: offsets[room - 1][1]]

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance score per passage (the model's own scale; higher is better).

        A query longer than half the model's limit (`related` reranks with a passage as the query) is cut
        to that half, so every passage keeps room to be read.
        """
        if not passages:
            return []
        query = self.cut_to(query, self.max_tokens // 2)
        pairs = [(query, self.cut(query, passage)) for passage in passages]
        scores = self.model.predict(pairs, batch_size=BATCH_SIZE, show_progress_bar=False, convert_to_numpy=True)
        return [float(s) for s in scores.reshape(len(pairs), -1)[:, 0]]


def model_limit(model) -> int:
    """Tokens the cross-encoder reads: its max_length, else the tokenizer's or the position table's limit."""
    limits = [getattr(model, "max_seq_length", None)]
    tokenizer_max = getattr(model.tokenizer, "model_max_length", None)
    limits.append(tokenizer_max if tokenizer_max and tokenizer_max < 100_000 else None)
    config = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    limits.append(config)
    known = [int(v) for v in limits if isinstance(v, int) and v > SPECIAL_TOKENS + 1]
    return min(known) if known else FALLBACK_MAX_TOKENS


def load_reranker(spec: str | None = None) -> Reranker:
    """The cross-encoder ``spec`` (hub id or local directory; default DEFAULT_RERANKER); RerankerUnavailable."""
    from embed.encode import models

    spec = (spec or "").strip() or DEFAULT_RERANKER
    if models.is_local_path(spec):
        path = Path(spec).expanduser()
        if not path.is_dir():
            raise RerankerUnavailable(spec, "no such directory" if not path.exists() else "not a directory")
        if not (path / "config.json").is_file():
            raise RerankerUnavailable(spec, "not a model directory: no config.json in it")
        return Reranker(_construct(spec, str(path), local_files_only=True), str(path.resolve()))
    snapshot = models.cached_snapshot(spec)
    if snapshot is not None:
        return Reranker(_construct(spec, snapshot, local_files_only=True), spec)
    host = urlsplit(models.hub_endpoint()).hostname or models.hub_endpoint()
    if models.hub_offline():
        raise RerankerUnavailable(spec, "not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
    if not models.hub_reachable():
        raise RerankerUnavailable(spec, f"not in the local Hugging Face cache and {host} is unreachable")
    return Reranker(_construct(spec, spec, local_files_only=False), spec)


def _construct(spec: str, source: str, *, local_files_only: bool):
    from embed.encode.models import quiet_progress_bars

    try:
        from sentence_transformers import CrossEncoder

        with quiet_progress_bars():
            model = CrossEncoder(source, device="cpu", local_files_only=local_files_only)
    except Exception as exc:  # OSError, ValueError, KeyError, ... for broken or foreign directories
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise RerankerUnavailable(spec, f"not a cross-encoder model: {text}") from exc
    if getattr(model, "num_labels", 1) != 1:
        raise RerankerUnavailable(spec, f"a classifier with {model.num_labels} labels, not a 1-score reranker")
    return model
