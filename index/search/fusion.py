"""Hybrid search: merge ranked lists (dense and lexical) into one.

- Reciprocal rank fusion (Cormack et al., 2009): ``score(d) = sum_i w_i / (k + rank_i(d))``, rank from 1;
  a list that does not hold ``d`` adds nothing.
- Weighted score fusion: ``score(d) = sum_i w_i * norm_i(d)`` after normalising each list's scores.
  An id missing from a list gets that list's lowest normalised score (0 under "minmax"; the lowest
  z-score under "zscore", never the mean 0, so being absent is never better than being last).
  A list whose scores are all equal (one hit, say) only says "present": its ids get 1, missing ids 0.

Results are sorted best first; equal scores are ordered by id, so the output is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Ranking = Sequence[str] | Mapping[str, float]
DEFAULT_RRF_K = 60.0
DEFAULT_WEIGHT_DENSE = 0.5
NORMALISERS = ("minmax", "zscore")
FUSION_HELP = (
    "expected 'rrf', 'rrf:<k>' (k >= 0, e.g. rrf:60) or 'weighted[:<w>]' (dense weight 0..1, e.g. weighted:0.7)"
)


@dataclass(frozen=True)
class FusionConfig:
    """How to merge dense and lexical hits; ``describe()`` gives the string ``parse_fusion`` reads."""

    method: str
    rrf_k: float = DEFAULT_RRF_K
    weight_dense: float = DEFAULT_WEIGHT_DENSE

    def __post_init__(self) -> None:
        if self.method not in ("rrf", "weighted"):
            raise ValueError(f"unknown fusion method '{self.method}': {FUSION_HELP}")
        if not (math.isfinite(self.rrf_k) and self.rrf_k >= 0):
            raise ValueError(f"rrf k must be a finite number >= 0, not {self.rrf_k}")
        if not 0.0 <= self.weight_dense <= 1.0:
            raise ValueError(f"dense weight must lie between 0 and 1, not {self.weight_dense}")

    def describe(self) -> str:
        if self.method == "rrf":
            return "rrf" if self.rrf_k == DEFAULT_RRF_K else f"rrf:{_format_number(self.rrf_k)}"
        if self.weight_dense == DEFAULT_WEIGHT_DENSE:
            return "weighted"
        return f"weighted:{_format_number(self.weight_dense)}"

    def label(self) -> str:
        """'rrf:60' / 'weighted:0.5': always with the number, as bench rows and semsearch.json name fusions."""
        value = self.rrf_k if self.method == "rrf" else self.weight_dense
        return f"{self.method}:{value:g}"


def parse_fusion(text: str) -> FusionConfig:
    """Read "rrf", "rrf:10", "weighted" or "weighted:0.7" (the weight of the dense list; lexical gets 1 - w)."""
    method, sep, argument = text.strip().lower().partition(":")
    if method not in ("rrf", "weighted") or (sep and not argument.strip()):
        raise ValueError(f"bad fusion '{text}': {FUSION_HELP}")
    if not sep:
        return FusionConfig(method)
    try:
        value = float(argument)
    except ValueError:
        raise ValueError(f"bad fusion '{text}': '{argument}' is not a number; {FUSION_HELP}") from None
    try:
        return FusionConfig("rrf", rrf_k=value) if method == "rrf" else FusionConfig("weighted", weight_dense=value)
    except ValueError as exc:
        raise ValueError(f"bad fusion '{text}': {exc}") from None


def fuse_hits(
    config: FusionConfig, dense: Mapping[str, float], lexical: Mapping[str, float]
) -> list[tuple[str, float]]:
    """Merge dense and lexical scores as ``config`` says (RRF is unweighted; weighted uses min-max)."""
    if config.method == "rrf":
        return fuse_rrf([dense, lexical], k=config.rrf_k)
    return fuse_weighted([dense, lexical], [config.weight_dense, 1.0 - config.weight_dense])


def fuse_rrf(
    rankings: Sequence[Ranking], k: float = DEFAULT_RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """Reciprocal rank fusion. A ranking is a list of ids, best first, or an id -> score mapping.

    A mapping is ranked by score descending, then id; an id repeated in a list counts at its first rank.
    """
    if not (math.isfinite(k) and k >= 0):
        raise ValueError(f"rrf k must be a finite number >= 0, not {k}")
    weights = _check_weights(weights, len(rankings))
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, doc_id in enumerate(_ordered_ids(ranking), start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + weight / (k + rank)
    return _sorted_best_first(fused)


def fuse_weighted(
    score_lists: Sequence[Mapping[str, float]], weights: Sequence[float], normalise: str = "minmax"
) -> list[tuple[str, float]]:
    """Weighted sum of normalised scores (see the module notes for missing ids and flat lists)."""
    if normalise not in NORMALISERS:
        raise ValueError(f"unknown normalisation '{normalise}': expected one of {', '.join(NORMALISERS)}")
    weights = _check_weights(weights, len(score_lists))
    ids = sorted({doc_id for scores in score_lists for doc_id in scores})
    fused = dict.fromkeys(ids, 0.0)
    for scores, weight in zip(score_lists, weights):
        normalised, floor = normalise_scores(scores, normalise)
        for doc_id in ids:
            fused[doc_id] += weight * normalised.get(doc_id, floor)
    return _sorted_best_first(fused)


def normalise_scores(scores: Mapping[str, float], method: str) -> tuple[dict[str, float], float]:
    """The normalised scores of one list and the value an id missing from it gets."""
    values = list(scores.values())
    if any(not math.isfinite(v) for v in values):
        raise ValueError("scores to fuse must be finite numbers")
    if not values:
        return {}, 0.0
    low, high = min(values), max(values)
    if low == high:
        return dict.fromkeys(scores, 1.0), 0.0
    if method == "minmax":
        return {d: (s - low) / (high - low) for d, s in scores.items()}, 0.0
    import statistics  # here: it imports decimal and fractions (~10 ms), which only z-score fusion needs

    mean, spread = statistics.fmean(values), statistics.pstdev(values)
    normalised = {d: (s - mean) / spread for d, s in scores.items()}
    return normalised, min(normalised.values())


def _format_number(value: float) -> str:
    """Shortest text that reads back as the same float: 10.0 -> "10", 0.7 -> "0.7"."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _ordered_ids(ranking: Ranking) -> list[str]:
    if isinstance(ranking, Mapping):
        ids = [doc_id for doc_id, _ in sorted(ranking.items(), key=lambda item: (-item[1], item[0]))]
    elif isinstance(ranking, str):
        raise TypeError("a ranking is a sequence of ids or an id -> score mapping, not a string")
    else:
        ids = list(ranking)
    return list(dict.fromkeys(ids))


def _check_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    if weights is None:
        return [1.0] * count
    if len(weights) != count:
        raise ValueError(f"got {len(weights)} weights for {count} lists")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError(f"weights must be finite and >= 0, not {list(weights)}")
    return [float(w) for w in weights]


def _sorted_best_first(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
