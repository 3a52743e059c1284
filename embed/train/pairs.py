"""Training pairs, the training error, and the batches both trainers draw from the pairs."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from embed.errors import EmbedError


class TuneError(EmbedError):
    """Training cannot start: too few pairs, bad settings, ..."""


@dataclass(frozen=True)
class TrainingPair:
    query: str
    passage: str
    negative: str | None = None  # a passage that looks relevant and is not (e.g. mined by BM25), or None


def distinct_pairs(pairs: Sequence[TrainingPair]) -> list[TrainingPair]:
    """``pairs`` without exact repeats, in their first order; empty texts are a TuneError."""
    for number, pair in enumerate(pairs, start=1):
        if not pair.query.strip() or not pair.passage.strip():
            raise TuneError(f"training pair {number} has an empty {'query' if not pair.query.strip() else 'passage'}")
    return list(dict.fromkeys(pairs))


def no_duplicate_batches(pairs: Sequence[TrainingPair], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of pair indices in which no text (query or passage) occurs twice.

    Like sentence-transformers' NO_DUPLICATES sampler: a pair that clashes with the open batch waits
    for a later one (a hard negative counts as one of its texts: it must not be another pair's passage).
    Every pair is used exactly once per epoch.
    """
    order = list(range(len(pairs)))
    rng.shuffle(order)
    open_batches: list[tuple[list[int], set[str]]] = []
    done: list[list[int]] = []
    for index in order:
        texts = {pairs[index].query, pairs[index].passage, pairs[index].negative} - {None}
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


def epoch_batches(train: list[TrainingPair], batch_size: int, rng: random.Random) -> list[list[TrainingPair]]:
    """One epoch's batches (of at least 2 pairs: the others are the negatives), drawn from ``rng``."""
    batches = no_duplicate_batches(train, batch_size, rng)
    return [[train[i] for i in batch] for batch in batches if len(batch) > 1]
