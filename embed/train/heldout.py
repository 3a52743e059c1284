"""The held-out slice of the training pairs: kept out of training, scored during it to pick the checkpoint.

``split_heldout`` takes a seeded sample of whole queries (all their pairs) out of the training pairs;
``Heldout`` ranks those queries against candidate passages (the held-out passages plus a seeded sample of
the others, capped so one evaluation stays cheap) with whatever encoder it is given, and returns the
nDCG@10, Recall@10 and MRR of the relevant passages. nDCG@10 -- what `semsearch bench` reports first --
picks the best checkpoint; MRR (over the whole candidate list, it moves with every change in rank) breaks
ties, then Recall@10.

It also keeps the vectors of its best-scoring evaluation (``kept``): the checkpoint `embed.train.fit` puts
back is the one with that score, so `semsearch tune` can rank the same queries once more, lexically too,
and choose the hybrid fusion for the model (``index.evaluate.fusion_pick``) without encoding them again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from embed.train.pairs import TrainingPair

RECALL_AT = 10
# texts -> L2-normalised float32 vectors, one row each
Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class HeldoutScore:
    recall: float  # mean Recall@10 of the held-out queries
    mrr: float  # mean reciprocal rank of each query's best-ranked relevant passage, over all candidates
    ndcg: float  # mean nDCG@10 (binary relevance)

    def better_than(self, other: HeldoutScore | None) -> bool:
        return other is None or (self.ndcg, self.mrr, self.recall) > (other.ndcg, other.mrr, other.recall)


@dataclass(frozen=True)
class HeldoutVectors:
    """The held-out queries and candidates with their vectors from the kept checkpoint."""

    queries: list[str]
    candidates: list[str]
    relevant: dict[str, set[int]]  # query -> positions of its passages in ``candidates``
    query_vectors: np.ndarray  # (queries, dim), L2-normalised
    passage_vectors: np.ndarray  # (candidates, dim)


def ndcg_at(hit: np.ndarray, relevant: int, k: int = RECALL_AT) -> float:
    """Binary nDCG@k of one ranking: ``hit[i]`` says whether the passage at rank i + 1 is relevant."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    top = np.asarray(hit[:k], dtype=float)
    return float(top @ discounts[: len(top)]) / discounts[: min(relevant, k)].sum()


def split_heldout(
    pairs: list[TrainingPair], fraction: float, most: int, seed: int
) -> tuple[list[TrainingPair], list[TrainingPair]]:
    """(train, held-out): a seeded sample of whole queries, ``fraction`` of them capped at ``most``.

    No held-out slice when it would hold fewer than 1 query or leave fewer than 2 training pairs.
    """
    queries = list(dict.fromkeys(pair.query for pair in pairs))
    wanted = min(most, int(len(queries) * fraction))
    if wanted < 1:
        return list(pairs), []
    chosen = set(random.Random(seed).sample(queries, wanted))
    train = [pair for pair in pairs if pair.query not in chosen]
    if len(train) < 2:
        return list(pairs), []
    return train, [pair for pair in pairs if pair.query in chosen]


class Heldout:
    """Held-out queries, their relevant passages and the candidates they are ranked against."""

    def __init__(self, heldout: list[TrainingPair], passages: Sequence[str], most_candidates: int, seed: int):
        wanted = list(dict.fromkeys(pair.passage for pair in heldout))
        others = [p for p in dict.fromkeys(passages) if p not in set(wanted)]
        room = max(0, most_candidates - len(wanted))
        if len(others) > room:
            others = random.Random(seed).sample(others, room)
        self.candidates = wanted + others
        position = {text: i for i, text in enumerate(self.candidates)}
        self.relevant: dict[str, set[int]] = {}
        for pair in heldout:
            self.relevant.setdefault(pair.query, set()).add(position[pair.passage])
        self.queries = list(self.relevant)
        self._best: tuple[HeldoutScore, np.ndarray, np.ndarray] | None = None

    def __bool__(self) -> bool:
        return bool(self.queries)

    def score(self, encode_queries: Encode, encode_passages: Encode) -> HeldoutScore | None:
        """Recall@10 and MRR of the queries ranked by cosine against every candidate (None when empty)."""
        if not self.queries:
            return None
        query_vectors, passage_vectors = encode_queries(self.queries), encode_passages(self.candidates)
        order = np.argsort(-(query_vectors @ passage_vectors.T), axis=1, kind="stable")
        recalls, ranks, ndcgs = [], [], []
        for row, query in enumerate(self.queries):
            relevant = self.relevant[query]
            hit = np.isin(order[row], list(relevant))
            recalls.append(hit[:RECALL_AT].sum() / len(relevant))
            ranks.append(1.0 / (1 + int(np.argmax(hit))))
            ndcgs.append(ndcg_at(hit, len(relevant)))
        score = HeldoutScore(float(np.mean(recalls)), float(np.mean(ranks)), float(np.mean(ndcgs)))
        if score.better_than(self._best and self._best[0]):  # the rule embed.train.fit keeps a checkpoint by
            self._best = (score, query_vectors, passage_vectors)
        return score

    def kept(self) -> HeldoutVectors | None:
        """The queries, candidates and vectors of the best evaluation so far (None before the first)."""
        if self._best is None:
            return None
        _, query_vectors, passage_vectors = self._best
        return HeldoutVectors(list(self.queries), list(self.candidates), dict(self.relevant),
                              np.asarray(query_vectors, np.float32), np.asarray(passage_vectors, np.float32))
