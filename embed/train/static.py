"""Train a sentence-transformers StaticEmbedding model from (query, passage) pairs.

    from embed.train.static import TrainingPair, TuneSettings, tune_static, save_tuned
    from embed.train.wordpiece import load_tokenizer
    model, report = tune_static(pairs, load_tokenizer("tokenizer.json"), TuneSettings(dim=256))
    save_tuned(model, "out/", report)          # a standard sentence-transformers directory + README.md

The model is StaticEmbedding -> Normalize: a passage vector is the mean of its tokens' vectors. Weights
start as a seeded standard normal, so the untrained model already ranks like a random projection of
bag-of-words overlap (zero weights cannot learn at all: every gradient is the same); training with
MultipleNegativesRankingLoss (in-batch negatives, no text twice in a batch) then learns which tokens
matter and which mean the same. A held-out slice of the pairs (by query) is scored by Recall@10
before and after training. Results are deterministic for the same pairs, settings and seed.
``torch``/``sentence_transformers`` are imported lazily.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embed.errors import EmbedError
from embed.train.wordpiece import TokenCache

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

# step (1-based), total steps, mean loss of the current epoch so far
TrainProgress = Callable[[int, int, float], None]
RECALL_AT = 10


class TuneError(EmbedError):
    """Training cannot start: too few pairs, bad settings, ..."""


@dataclass(frozen=True)
class TrainingPair:
    query: str
    passage: str


@dataclass(frozen=True)
class TuneSettings:
    dim: int = 256
    epochs: int = 3
    batch_size: int = 512
    lr: float = 0.1
    seed: int = 0
    matryoshka: tuple[int, ...] = ()  # extra (smaller) dims trained with MatryoshkaLoss; () = off
    scale: float = 20.0  # MultipleNegativesRankingLoss scale (1 / temperature)
    init_std: float = 1.0  # standard deviation of the initial token vectors
    heldout_fraction: float = 0.05  # of the queries, kept out of training for the before/after recall
    heldout_max: int = 500

    def check(self) -> None:
        for name in ("dim", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise TuneError(f"{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.batch_size < 2:
            raise TuneError("batch-size must be at least 2: the other pairs of a batch are the negatives")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise TuneError(f"lr must be a positive number, not {self.lr}")
        if not 0 <= self.heldout_fraction < 1:
            raise TuneError(f"held-out fraction must lie in [0, 1), not {self.heldout_fraction}")
        bad = [d for d in self.matryoshka if not 1 <= d <= self.dim]
        if bad:
            raise TuneError(f"matryoshka dims must lie between 1 and --dim ({self.dim}), not {bad}")

    def loss_dims(self) -> tuple[int, ...]:
        return tuple(sorted({self.dim, *self.matryoshka}, reverse=True))


@dataclass
class TuneReport:
    pairs: int  # distinct pairs given
    train_pairs: int
    heldout_queries: int
    candidates: int  # passages the held-out queries are ranked against
    recall_before: float | None  # Recall@10 on the held-out queries; None without a held-out slice
    recall_after: float | None
    steps: int
    seconds: float
    pairs_per_s: float
    final_loss: float
    vocab_size: int
    settings: TuneSettings
    epoch_losses: list[float] = field(default_factory=list)


def tune_static(
    pairs: Sequence[TrainingPair], tokenizer: Tokenizer, settings: TuneSettings = TuneSettings(),
    progress: TrainProgress | None = None,
) -> tuple[SentenceTransformer, TuneReport]:
    """Train a StaticEmbedding -> Normalize model on ``pairs``; raises TuneError for unusable input."""
    import torch

    settings.check()
    pairs = distinct_pairs(pairs)
    train, heldout = split_heldout(pairs, settings)
    if len(train) < 2:
        raise TuneError(f"need at least 2 training pairs, got {len(train)}")
    model = build_model(tokenizer, settings)
    tokens = TokenCache(model[0].tokenizer, [text for pair in pairs for text in (pair.query, pair.passage)])
    candidates = list(dict.fromkeys(pair.passage for pair in pairs))
    recall_before = heldout_recall(model, tokens, heldout, candidates)
    plan = epoch_batches(train, settings)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        started = time.perf_counter()
        losses = train_loop(model, tokens, plan, settings, progress)
        seconds = time.perf_counter() - started
    recall_after = heldout_recall(model, tokens, heldout, candidates)
    report = TuneReport(
        pairs=len(pairs), train_pairs=len(train), heldout_queries=len({p.query for p in heldout}),
        candidates=len(candidates) if heldout else 0, recall_before=recall_before, recall_after=recall_after,
        steps=sum(len(batches) for batches in plan), seconds=seconds,
        pairs_per_s=len(train) * settings.epochs / max(seconds, 1e-9), final_loss=losses[-1],
        vocab_size=tokenizer.get_vocab_size(), settings=settings, epoch_losses=losses,
    )
    return model, report


def distinct_pairs(pairs: Sequence[TrainingPair]) -> list[TrainingPair]:
    """``pairs`` without exact repeats, in their first order; empty texts are a TuneError."""
    for number, pair in enumerate(pairs, start=1):
        if not pair.query.strip() or not pair.passage.strip():
            raise TuneError(f"training pair {number} has an empty {'query' if not pair.query.strip() else 'passage'}")
    return list(dict.fromkeys(pairs))


def split_heldout(pairs: list[TrainingPair], settings: TuneSettings) -> tuple[list[TrainingPair], list[TrainingPair]]:
    """(train, held-out): a seeded sample of whole queries (all their pairs), fraction capped at heldout_max.

    No held-out slice when it would hold fewer than 1 query or leave fewer than 2 training pairs.
    """
    queries = list(dict.fromkeys(pair.query for pair in pairs))
    wanted = min(settings.heldout_max, int(len(queries) * settings.heldout_fraction))
    if wanted < 1:
        return list(pairs), []
    chosen = set(random.Random(settings.seed).sample(queries, wanted))
    train = [pair for pair in pairs if pair.query not in chosen]
    if len(train) < 2:
        return list(pairs), []
    return train, [pair for pair in pairs if pair.query in chosen]


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


def no_duplicate_batches(pairs: Sequence[TrainingPair], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of pair indices in which no text (query or passage) occurs twice.

    Like sentence-transformers' NO_DUPLICATES sampler: a pair that clashes with the open batch waits
    for a later one. Every pair is used exactly once per epoch.
    """
    order = list(range(len(pairs)))
    rng.shuffle(order)
    open_batches: list[tuple[list[int], set[str]]] = []
    done: list[list[int]] = []
    for index in order:
        texts = {pairs[index].query, pairs[index].passage}
        home = next((b for b in open_batches if not texts & b[1]), None)
        if home is None:
            home = ([], set())
            open_batches.append(home)
        home[0].append(index)
        home[1].update(texts)
        if len(home[0]) == batch_size:
            done.append(home[0])
            open_batches.remove(home)
    return done + [batch for batch, _ in open_batches if batch]


def epoch_batches(train: list[TrainingPair], settings: TuneSettings) -> list[list[list[TrainingPair]]]:
    """The batches of every epoch, fixed up front from the seed."""
    rng = random.Random(settings.seed)
    plan = []
    for _ in range(settings.epochs):
        batches = no_duplicate_batches(train, settings.batch_size, rng)
        plan.append([[train[i] for i in batch] for batch in batches if len(batch) > 1])
    return plan


def train_loop(model, tokens: TokenCache, plan, settings: TuneSettings, progress: TrainProgress | None) -> list[float]:
    """Adam with a linear decay to 0; returns the mean loss of each epoch."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MultipleNegativesRankingLoss

    loss_fn = MultipleNegativesRankingLoss(model, scale=settings.scale)
    if settings.matryoshka:
        loss_fn = MatryoshkaLoss(model, loss_fn, list(settings.loss_dims()))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, fused=True)  # fused: 5x faster steps on CPU
    total = max(1, sum(len(batches) for batches in plan))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / total)
    model.train()
    step, epoch_losses = 0, []
    for batches in plan:
        epoch_sum = 0.0
        for done, batch in enumerate(batches, start=1):
            features = [tokens.features([p.query for p in batch]), tokens.features([p.passage for p in batch])]
            loss = loss_fn(features, None)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            epoch_sum += float(loss.detach())
            if progress is not None:
                progress(step, total, epoch_sum / done)
        epoch_losses.append(epoch_sum / max(1, len(batches)))
    model.eval()
    return epoch_losses


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


def heldout_recall(model, tokens: TokenCache, heldout: list[TrainingPair], candidates: list[str]) -> float | None:
    """Mean Recall@10 of the held-out queries ranked against ``candidates`` (None without a held-out slice)."""
    if not heldout:
        return None
    relevant: dict[str, set[int]] = {}
    position = {text: i for i, text in enumerate(candidates)}
    for pair in heldout:
        relevant.setdefault(pair.query, set()).add(position[pair.passage])
    queries = list(relevant)
    docs = encode_cached(model, tokens, candidates)
    scores = encode_cached(model, tokens, queries) @ docs.T
    k = min(RECALL_AT, len(candidates))
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    hits = [len(relevant[q] & set(top[i].tolist())) / len(relevant[q]) for i, q in enumerate(queries)]
    return float(np.mean(hits))


# --- saving ---------------------------------------------------------------------------------------


def check_out_dir(out: str | Path) -> Path:
    """``out`` as a Path, if it may receive the model: absent, empty, or an earlier model directory."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise TuneError(f"--out {out} is a file; give a directory for the model")
    if out.is_dir() and any(out.iterdir()) and not (out / "modules.json").is_file():
        raise TuneError(f"--out {out} is a non-empty directory that holds no model; give a new or empty one")
    return out


def save_tuned(model: SentenceTransformer, out: str | Path, card: str) -> Path:
    """Write the sentence-transformers directory with ``card`` as its README.md; replaces an earlier model."""
    out = check_out_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()  # not mkdtemp: the model directory gets the usual (umask) permissions
    try:
        model.save(str(staging), create_model_card=False)
        (staging / "README.md").write_text(card, encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out
