"""Retrieval quality: nDCG@10, Recall@k, MRR@10 and MAP@100 computed by trec_eval (via pytrec_eval).

pytrec_eval wraps the C code of trec_eval, the tool behind the BEIR and MTEB figures we compare
against, so the numbers are computed the same way as the published ones. It is imported lazily.

Conventions (the same as BEIR's):
- a judgement is relevant when its score is > 0; nDCG uses the score itself as the gain;
- the mean is taken over every query of ``qrels`` that has a relevant document; a query that the run
  leaves out, or answers with no documents, counts as 0;
- ranks come from the run's scores, best first; equal scores are ordered by document id (ascending),
  so the result never depends on trec_eval's own tie order (which is by id, descending).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

from embed.errors import SemsearchError

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]

DEFAULT_K_VALUES = (1, 5, 10, 100)
NDCG_AT = 10
MRR_AT = 10
MAP_AT = 100


class MetricsUnavailable(SemsearchError, RuntimeError):
    """pytrec_eval, which computes the metrics, is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "retrieval metrics need pytrec_eval; install it with `pip install pytrec-eval-terrier`"
        )


def evaluate(qrels: Qrels, run: Run, *, k_values: Sequence[int] = DEFAULT_K_VALUES) -> dict[str, float]:
    """Mean metrics over the queries of ``qrels``: "ndcg@10", "recall@<k>" for each k, "mrr@10", "map@100"."""
    ks = _check_ks(k_values)
    relevant = _relevant_qrels(qrels)
    depth = max(MAP_AT, NDCG_AT, *ks)
    ranked = rank_run(run, relevant, depth)
    measures = {f"ndcg_cut.{NDCG_AT}", f"map_cut.{MAP_AT}", "recall." + ",".join(map(str, ks))}
    full = _trec_eval(relevant, ranked, measures)
    rr = _trec_eval(relevant, rank_run(run, relevant, MRR_AT), {"recip_rank"})
    scores = {f"ndcg@{NDCG_AT}": _mean(full, f"ndcg_cut_{NDCG_AT}", relevant)}
    scores.update({f"recall@{k}": _mean(full, f"recall_{k}", relevant) for k in ks})
    scores[f"mrr@{MRR_AT}"] = _mean(rr, "recip_rank", relevant)
    scores[f"map@{MAP_AT}"] = _mean(full, f"map_cut_{MAP_AT}", relevant)
    return scores


def recall_curve(qrels: Qrels, run: Run, ks: Sequence[int]) -> dict[int, float]:
    """Mean Recall@k for each k (ascending), for plotting; same conventions as ``evaluate``."""
    ks = _check_ks(ks)
    relevant = _relevant_qrels(qrels)
    ranked = rank_run(run, relevant, max(ks))
    per_query = _trec_eval(relevant, ranked, {"recall." + ",".join(map(str, ks))})
    return {k: _mean(per_query, f"recall_{k}", relevant) for k in ks}


def rank_run(run: Run, qrels: Qrels, depth: int) -> dict[str, dict[str, float]]:
    """The top ``depth`` documents of each judged query, rescored depth, depth-1, ... (best first).

    Order: score descending, then document id ascending. Queries without documents are left out.
    """
    ranked: dict[str, dict[str, float]] = {}
    for qid in qrels:
        docs = run.get(qid) or {}
        for doc_id, score in docs.items():
            if not isinstance(score, numbers.Real) or math.isnan(score):
                raise ValueError(f"run score for query '{qid}', document '{doc_id}' is not a number: {score!r}")
        order = sorted(docs.items(), key=lambda item: (-item[1], item[0]))[:depth]
        if order:
            ranked[qid] = {doc_id: float(depth - i) for i, (doc_id, _) in enumerate(order)}
    return ranked


def _relevant_qrels(qrels: Qrels) -> dict[str, dict[str, int]]:
    relevant = {}
    for qid, docs in qrels.items():
        kept = {doc_id: int(score) for doc_id, score in docs.items() if score > 0}
        if kept:
            relevant[qid] = kept
    if not relevant:
        raise ValueError("qrels hold no relevant judgement (score > 0): nothing to evaluate")
    return relevant


def _check_ks(ks: Sequence[int]) -> list[int]:
    if not ks:
        raise ValueError("give at least one cutoff k")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"cutoff k must be a positive integer, not {k!r}")
    return sorted(set(ks))


def _trec_eval(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], measures: set[str]) -> dict:
    try:
        import pytrec_eval
    except ImportError as exc:
        raise MetricsUnavailable() from exc
    return pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)


def _mean(per_query: Mapping[str, Mapping[str, float]], measure: str, qrels: Mapping[str, object]) -> float:
    return sum(per_query.get(qid, {}).get(measure, 0.0) for qid in qrels) / len(qrels)
