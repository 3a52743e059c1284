"""Choose a tuned model's hybrid fusion on its held-out queries (`semsearch tune`).

The default fusion (rrf:10) was set for the published models, whose dense rankings and BM25's are of
similar strength. A model tuned on a collection can be much stronger or weaker than BM25 there, and the
best way to merge the two lists moves with that. ``pick_fusion`` ranks the held-out queries -- kept out of
training, never a test split -- against the same candidates twice, by the kept checkpoint's vectors and by
BM25 (the index's own, ``MemoryBM25``), each ``CANDIDATES`` deep as hybrid search does, fuses them with
every fusion of ``GRID`` and keeps the one with the best mean nDCG@10 (the default on ties, then the first
in ``GRID``). The choice is saved with the model (``index.search.model_fusion``) and used by `ask`,
`related`, `serve` and `bench` whenever no --fusion is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embed.train.heldout import HeldoutVectors, ndcg_at
from index.evaluate.memory_bm25 import MemoryBM25
from index.search.fusion import FusionConfig, fuse_hits, parse_fusion
from index.search.searcher import CANDIDATES, DEFAULT_FUSION

GRID = tuple(parse_fusion(text) for text in (
    "rrf:10", "rrf:1", "rrf:2", "rrf:5", "rrf:30", "rrf:60",
    *(f"weighted:{w / 10:g}" for w in range(1, 10)),
))


@dataclass(frozen=True)
class FusionChoice:
    fusion: FusionConfig  # the one kept
    ndcg: dict[str, float]  # held-out nDCG@10 of every fusion tried, and of "dense" and "lexical" alone
    queries: int
    candidates: int

    def to_dict(self) -> dict:
        return {
            "fusion": self.fusion.label(), "chosen_by": "held-out nDCG@10 (semsearch tune)",
            "heldout_queries": self.queries, "candidates": self.candidates,
            "heldout_ndcg@10": {name: round(value, 5) for name, value in self.ndcg.items()},
        }


def pick_fusion(held: HeldoutVectors | None, grid: tuple[FusionConfig, ...] = GRID) -> FusionChoice | None:
    """The fusion of ``grid`` with the best held-out nDCG@10; None without held-out queries."""
    if held is None or not held.queries:
        return None
    dense, lexical = dense_rankings(held), lexical_rankings(held)
    ndcg = {"dense": mean_ndcg(held, dense), "lexical": mean_ndcg(held, lexical)}
    for config in grid:
        fused = [dict(fuse_hits(config, d, l)[:10]) for d, l in zip(dense, lexical)]
        ndcg[config.label()] = mean_ndcg(held, fused)
    ordered = sorted(grid, key=lambda c: (-ndcg[c.label()], c != DEFAULT_FUSION, grid.index(c)))
    return FusionChoice(ordered[0], ndcg, len(held.queries), len(held.candidates))


def dense_rankings(held: HeldoutVectors) -> list[dict[str, float]]:
    scores = held.query_vectors @ held.passage_vectors.T
    depth = min(CANDIDATES, scores.shape[1])
    rankings = []
    for row in scores:
        top = np.argsort(-row, kind="stable")[:depth]
        rankings.append({key(i): float(row[i]) for i in top})
    return rankings


def lexical_rankings(held: HeldoutVectors) -> list[dict[str, float]]:
    with MemoryBM25(held.candidates) as bm25:
        return [{key(i): score for i, score in bm25.rank(query, CANDIDATES)} for query in held.queries]


def key(position: int) -> str:
    """A candidate's id for fusion: zero-padded, so ties between equal scores go by position, as by pk in search."""
    return f"{position:08d}"


def mean_ndcg(held: HeldoutVectors, rankings: list[dict[str, float]]) -> float:
    """Mean nDCG@10 of rankings given as {key: score}, best first (as the rankers and fuse_hits order them)."""
    values = []
    for query, ranking in zip(held.queries, rankings):
        relevant = held.relevant[query]
        hits = np.array([int(k) in relevant for k in list(ranking)[:10]], dtype=bool)
        values.append(ndcg_at(hits, len(relevant)))
    return float(np.mean(values))
