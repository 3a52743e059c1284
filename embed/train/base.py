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
from embed.train.pairs import TrainingPair, epoch_batches
from embed.train.settings import TuneReport, TuneSettings, evals_per_epoch
from embed.train.static import make_report, split_for_training

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

CANDIDATES_MAX = 1000  # held-out ranking: one evaluation encodes this many passages with the full model
ENCODE_BATCH = 32
WARMUP_SHARE = 0.1  # of the first epoch's steps
MAX_GRAD_NORM = 1.0


def tune_base(
    pairs: Sequence[TrainingPair], base: str, settings: TuneSettings = TuneSettings(),
    progress: TrainProgress | None = None, precision: str | None = None, corpus: Sequence[str] = (),
) -> tuple[SentenceTransformer, TuneReport]:
    """Fine-tune the model ``base`` on ``pairs``; raises TuneError for unusable input, ModelUnavailable.

    ``corpus``: more passages (e.g. the rest of the collection) the held-out queries are ranked against.
    """
    import torch

    from embed.encode.models import load_sentence_transformer
    from embed.encode.precision import resolve_precision

    started = time.perf_counter()
    pairs, train, held, settings = split_for_training(pairs, settings, "base")
    chosen = resolve_precision(precision)
    model = load_sentence_transformer(base, device="cpu")
    most = min(settings.candidates_max, CANDIDATES_MAX)
    heldout = Heldout(held, [p.passage for p in pairs] + list(corpus), most, settings.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        result = train_base(model, train, heldout, settings, started, progress, bf16=chosen == "bf16")
    return model, make_report(pairs, train, heldout, result, settings, base=base, precision=chosen,
                              hard_negatives=sum(1 for pair in train if pair.negative))


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
