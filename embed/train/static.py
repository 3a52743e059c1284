"""Train a sentence-transformers StaticEmbedding model from (query, passage) pairs.

    from embed.train.static import TrainingPair, TuneSettings, tune_static
    from embed.train.wordpiece import load_tokenizer
    model, report = tune_static(pairs, load_tokenizer("tokenizer.json"), TuneSettings(dim=256))
    save_tuned(model, "out/", card)          # embed.train.save: a standard sentence-transformers directory

The model is StaticEmbedding -> Normalize: a passage vector is the mean of its tokens' vectors. Weights
start as a seeded standard normal, so the untrained model already ranks like a random projection of
bag-of-words overlap (zero weights cannot learn at all: every gradient is the same); training with
MultipleNegativesRankingLoss (in-batch negatives, no text twice in a batch) then learns which tokens
matter and which mean the same. Batch size and learning rate follow the data (``TuneSettings.scaled``);
how long it trains is chosen on a held-out slice of the pairs within a time budget (``embed.train.fit``).
Results are deterministic for the same pairs, settings, seed and tokenizer (the time budget aside), a
vocabulary trained by ``embed.train.wordpiece.train_wordpiece`` included.
``torch``/``sentence_transformers`` are imported lazily.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from embed.train.fit import FitResult, TrainProgress, fit, FitPlan
from embed.train.heldout import Heldout, HeldoutScore, split_heldout
from embed.train.pairs import TrainingPair, TuneError, distinct_pairs, epoch_batches, no_duplicate_batches
from embed.train.save import check_out_dir, save_tuned
from embed.train.settings import TuneReport, TuneSettings, evals_per_epoch
from embed.train.wordpiece import TokenCache

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

__all__ = [
    "TrainingPair", "TuneError", "TuneReport", "TuneSettings", "check_out_dir", "no_duplicate_batches",
    "save_tuned", "tune_static",
]


def split_for_training(pairs: Sequence[TrainingPair], settings: TuneSettings, kind: str):
    """(distinct pairs, training pairs, held-out pairs, settings scaled to the training set's size for ``kind``);
    TuneError when fewer than 2 pairs are left to train on."""
    settings.check()
    pairs = distinct_pairs(pairs)
    train, held = split_heldout(pairs, settings.heldout_fraction, settings.heldout_max, settings.seed)
    if len(train) < 2:
        raise TuneError(f"need at least 2 training pairs, got {len(train)}")
    return pairs, train, held, settings.scaled(len(train), kind)


def tune_static(
    pairs: Sequence[TrainingPair], tokenizer: Tokenizer, settings: TuneSettings = TuneSettings(),
    progress: TrainProgress | None = None, corpus: Sequence[str] = (), started: float | None = None,
) -> tuple[SentenceTransformer, TuneReport]:
    """Train a StaticEmbedding -> Normalize model on ``pairs``; raises TuneError for unusable input.

    ``corpus``: more passages (e.g. the rest of the collection) the held-out queries are ranked against.
    ``started``: the perf_counter() the time budget counts from (default: now).
    """
    import torch

    started = time.perf_counter() if started is None else started
    pairs, train, held, settings = split_for_training(pairs, settings, "static")
    model = build_model(tokenizer, settings)
    heldout = Heldout(held, [pair.passage for pair in pairs] + list(corpus), settings.candidates_max, settings.seed)
    texts = [text for pair in pairs for text in (pair.query, pair.passage)] + heldout.candidates
    tokens = TokenCache(model[0].tokenizer, texts)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        result = train_static(model, tokens, train, heldout, settings, started, progress)
    return model, make_report(pairs, train, heldout, result, settings, vocab_size=tokenizer.get_vocab_size())


def build_model(tokenizer: Tokenizer, settings: TuneSettings) -> SentenceTransformer:
    """An untrained StaticEmbedding (seeded N(0, init_std) vectors) -> Normalize model on the CPU."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer.to_str())  # the model keeps its own, uncapped copy
    tokenizer.no_truncation()
    generator = torch.Generator().manual_seed(settings.seed)
    weights = torch.randn(tokenizer.get_vocab_size(), settings.dim, generator=generator) * settings.init_std
    static = StaticEmbedding(tokenizer, embedding_weights=weights)
    return SentenceTransformer(modules=[static, Normalize()], device="cpu", similarity_fn_name="cosine")


def train_static(model, tokens: TokenCache, train, heldout: Heldout, settings: TuneSettings, started: float,
                 progress: TrainProgress | None) -> FitResult:
    """Adam on MultipleNegativesRankingLoss (inside MatryoshkaLoss when asked), by embed.train.fit's rules."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MultipleNegativesRankingLoss

    loss_fn = MultipleNegativesRankingLoss(model, scale=settings.scale)
    if settings.matryoshka:
        loss_fn = MatryoshkaLoss(model, loss_fn, list(settings.loss_dims()))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, fused=True)  # fused: 5x faster steps on CPU
    rng = random.Random(settings.seed)

    def step(batch: list[TrainingPair]) -> float:
        features = [tokens.features([p.query for p in batch]), tokens.features([p.passage for p in batch])]
        loss = loss_fn(features, None)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def evaluate() -> HeldoutScore | None:
        encode = lambda texts: encode_cached(model, tokens, texts)  # noqa: E731
        return heldout.score(encode, encode)

    plan = FitPlan(
        max_epochs=settings.epochs, time_budget_s=settings.time_budget, lr=settings.lr,
        patience=settings.patience, evals_per_epoch=evals_per_epoch("static"),
    )
    return fit(model, optimizer, plan, lambda _: epoch_batches(train, settings.batch_size, rng), step, evaluate,
               started, progress)


def make_report(pairs, train, heldout: Heldout, result: FitResult, settings: TuneSettings, **extra) -> TuneReport:
    first, best = (result.curve[0], result.best) if result.curve else (None, None)
    return TuneReport(
        pairs=len(pairs), train_pairs=len(train), heldout_queries=len(heldout.queries),
        candidates=len(heldout.candidates) if heldout else 0,
        recall_before=first and first.recall, recall_after=best and best.recall,
        mrr_before=first and first.mrr, mrr_after=best and best.mrr,
        ndcg_before=first and first.ndcg, ndcg_after=best and best.ndcg,
        steps=result.steps, epochs=round(result.epochs, 3), seconds=result.seconds, stopped=result.stopped,
        best_step=best and best.step, pairs_per_s=len(train) * result.epochs / max(result.seconds, 1e-9),
        final_loss=result.epoch_losses[-1] if result.epoch_losses else float("nan"), settings=settings,
        epoch_losses=result.epoch_losses, curve=result.curve, heldout_vectors=heldout.kept(), **extra,
    )


def encode_cached(model, tokens: TokenCache, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
    """L2-normalised float32 vectors of ``texts`` (all in the cache), without gradients."""
    import torch

    was_training = model.training
    model.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            features = tokens.features(texts[start : start + batch_size])
            parts.append(model(features)["sentence_embedding"].float().numpy())
    model.train(was_training)
    vectors = np.concatenate(parts) if parts else np.zeros((0, model.get_embedding_dimension()), np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
