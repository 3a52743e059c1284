"""Fine-tune a pretrained sentence-transformers model (e.g. all-MiniLM-L6-v2) on (query, passage) pairs, on the CPU.

    from embed.train.base import tune_base
    model, report = tune_base(pairs, "sentence-transformers/all-MiniLM-L6-v2", TuneSettings(time_budget=300))

The model is loaded by ``embed.encode.models.load_sentence_transformer`` (hub id or directory; the local
cache or a bundled copy first, never hanging offline) and trained with MultipleNegativesRankingLoss:
each query against its passage and every other passage of the batch (in-batch negatives, no text twice
in a batch). AdamW, a linear warm-up over the first 10% of an epoch, then a linear fall to 0 at the end of
the time budget (or of the last epoch, if sooner), gradients clipped at 1, dropout off (``switch_off_dropout``:
twice the steps in the budget; ``TuneSettings.dropout`` puts it back). On CPUs with
bf16 instructions (AMX, AVX-512 BF16: ``embed.encode.precision``) forward and backward run under bf16
autocast while the weights and optimizer state stay float32, so the saved model is an ordinary float32
one. Batch size and learning rate follow the data (``TuneSettings.scaled``); how long it trains is chosen
on a held-out slice of the pairs within the time budget (``embed.train.fit``). Pairs that carry a hard
negative (``TrainingPair.negative``, e.g. mined by BM25: index/evaluate/negatives.py) add it as a third
column: each query is then ranked against every passage and every negative of its batch.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from embed.train.fit import FitResult, FitPlan, TrainProgress, fit
from embed.train.heldout import Heldout, HeldoutScore
from embed.train.pairs import TrainingPair, TuneError, epoch_batches
from embed.train.settings import TuneReport, TuneSettings, evals_per_epoch
from embed.train.static import make_report, split_for_training

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

LONG_SHARE = 0.25  # of the passages longer than the model's limit: raise the limit (fitting_length)
CANDIDATES_MAX = 1000  # held-out ranking: one evaluation encodes this many passages with the full model
ENCODE_BATCH = 32
WARMUP_SHARE = 0.1  # of the first epoch's steps
MAX_GRAD_NORM = 1.0


def tune_base(
    pairs: Sequence[TrainingPair], base: str, settings: TuneSettings = TuneSettings(),
    progress: TrainProgress | None = None, precision: str | None = None, corpus: Sequence[str] = (),
    started: float | None = None,
) -> tuple[SentenceTransformer, TuneReport]:
    """Fine-tune the model ``base`` on ``pairs``; raises TuneError for unusable input, ModelUnavailable.

    ``corpus``: more passages (e.g. the rest of the collection) the held-out queries are ranked against.
    ``started``: the perf_counter() the time budget counts from (default: now).
    """
    import torch

    from embed.encode.models import load_sentence_transformer
    from embed.encode.precision import resolve_precision

    started = time.perf_counter() if started is None else started
    pairs, train, held, settings = split_for_training(pairs, settings, "base")
    chosen = resolve_precision(precision)
    model = load_sentence_transformer(base, device="cpu")
    before = model.max_seq_length
    if settings.max_tokens and settings.max_tokens > position_limit(model) > 0:
        raise TuneError(f"--max-tokens {settings.max_tokens} is more than {base} takes ({position_limit(model)})")
    saved_length = settings.max_tokens or fitting_length(model, [p.passage for p in pairs] + list(corpus))
    most = min(settings.candidates_max, CANDIDATES_MAX)
    heldout = Heldout(held, [p.passage for p in pairs] + list(corpus), most, settings.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        result = train_base(model, train, heldout, settings, started, progress, bf16=chosen == "bf16")
    model.max_seq_length = saved_length  # after training: see fitting_length
    return model, make_report(pairs, train, heldout, result, settings, base=base, precision=chosen,
                              hard_negatives=sum(1 for pair in train if pair.negative),
                              max_tokens=(before, saved_length))


def fitting_length(model, passages: Sequence[str], sample: int = 2000) -> int:
    """The model's max_seq_length, raised when it would cut many of the collection's passages.

    When more than ``LONG_SHARE`` of the passages (a seeded sample) are longer than the model's limit, the
    limit becomes the smallest power of two that holds 90% of them, at most the model's position limit
    (512 for BERT-like models). `semsearch index` cuts passages to this length, so a longer limit keeps an
    abstract whole for BM25 and the model alike (SciFact: 71% of the documents are longer than
    all-MiniLM-L6-v2's 256 tokens; 90% fit in 512). The model still trains and is scored on the held-out
    slice at its own length: at 512 a step and an evaluation cost three times as much here (17 steps in 300 s
    instead of 52, held-out nDCG@10 0.896 against 0.913); the longer limit is set on the saved model.
    """
    current, limit = int(model.max_seq_length or 0), position_limit(model)
    texts = list(passages) if len(passages) <= sample else random.Random(0).sample(list(passages), sample)
    if not texts or not current or limit <= current:
        return current
    lengths = sorted(token_counts(model.tokenizer, texts))
    if sum(length > current for length in lengths) <= LONG_SHARE * len(lengths):
        return current
    wanted = lengths[math.ceil(0.9 * len(lengths)) - 1]
    return min(limit, 2 ** math.ceil(math.log2(wanted)))


def token_counts(tokenizer, texts: list[str]) -> list[int]:
    """Tokens of each text, special tokens included, nothing cut (the fast tokenizer's own copy: no warnings)."""
    fast = getattr(tokenizer, "backend_tokenizer", None)
    if fast is None:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]]
    from tokenizers import Tokenizer

    uncut = Tokenizer.from_str(fast.to_str())
    uncut.no_truncation()
    uncut.no_padding()
    return [len(encoding.ids) for encoding in uncut.encode_batch(texts, add_special_tokens=True)]


def position_limit(model) -> int:
    """The most tokens the model's position embeddings take (0: not known)."""
    config = getattr(getattr(model[0], "auto_model", None), "config", None)
    return int(getattr(config, "max_position_embeddings", 0) or 0)


def autocast(bf16: bool):
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def train_base(model, train: list[TrainingPair], heldout: Heldout, settings: TuneSettings, started: float,
               progress: TrainProgress | None, *, bf16: bool) -> FitResult:
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    if not settings.dropout:
        switch_off_dropout(model)
    loss_fn = MultipleNegativesRankingLoss(model, scale=settings.scale)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    query_prompt, passage_prompt = prompts_of(model)
    rng = random.Random(settings.seed)
    tokenize = getattr(model, "preprocess", None) or model.tokenize  # `tokenize` is deprecated in ST 6

    def step(batch: list[TrainingPair]) -> float:
        columns = [[query_prompt + p.query for p in batch], [passage_prompt + p.passage for p in batch]]
        if all(p.negative for p in batch):
            columns.append([passage_prompt + str(p.negative) for p in batch])
        features = [tokenize(column) for column in columns]
        with autocast(bf16):
            loss = loss_fn(features, None)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
        optimizer.step()
        return float(loss.detach())

    def evaluate() -> HeldoutScore | None:
        return heldout.score(lambda t: encode(model, t, query_prompt, bf16), lambda t: encode(model, t, passage_prompt, bf16))

    per_epoch = math.ceil(len(train) / settings.batch_size)
    plan = FitPlan(
        max_epochs=settings.epochs, time_budget_s=settings.time_budget, lr=settings.lr, patience=settings.patience,
        evals_per_epoch=evals_per_epoch("base"), warmup_steps=max(1, math.ceil(WARMUP_SHARE * per_epoch)),
        decay=True,
    )
    return fit(model, optimizer, plan, lambda _: epoch_batches(train, settings.batch_size, rng), step, evaluate,
               started, progress)


def switch_off_dropout(model) -> None:
    """Set every dropout of ``model`` to 0 for training (the saved config keeps its own values). With
    attention dropout torch's SDPA leaves its fused kernel: a step took 5.5 s here instead of 2.3-2.9 s
    (MiniLM, 16 pairs with hard negatives), for no better held-out score within one epoch."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def prompts_of(model) -> tuple[str, str]:
    """The (query, passage) prompts the model was trained with, "" where it has none."""
    prompts = getattr(model, "prompts", None) or {}
    query = prompts.get("query", "")
    passage = prompts.get("document", prompts.get("passage", ""))
    return query, passage


def encode(model, texts: Sequence[str], prompt: str, bf16: bool) -> np.ndarray:
    """L2-normalised float32 vectors of ``texts`` (with ``prompt`` in front), without gradients."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), autocast(bf16):
            vectors = model.encode(
                [prompt + t for t in texts], batch_size=ENCODE_BATCH, convert_to_numpy=True,
                normalize_embeddings=True, show_progress_bar=False,
            )
    finally:
        model.train(was_training)
    return np.asarray(vectors, dtype=np.float32)
