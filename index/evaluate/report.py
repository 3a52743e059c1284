"""Benchmark outputs: latency percentiles, TREC run files and the Recall@k plot."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from embed.errors import SemsearchError


class PlotUnavailable(SemsearchError, RuntimeError):
    """matplotlib, which draws the Recall@k plot, is not installed."""

    def __init__(self) -> None:
        super().__init__("drawing the Recall@k plot needs matplotlib; install it with `pip install matplotlib`")


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float]:
    """count, mean, min, p50, p95, p99 and max of latencies in milliseconds (linear percentiles)."""
    values = np.asarray(samples_ms, dtype=float)
    if values.size == 0:
        raise ValueError("no latency samples to summarise")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("latency samples must be finite and >= 0")
    p50, p95, p99 = np.percentile(values, [50, 95, 99], method="linear")
    return {
        "count": float(values.size),
        "mean": float(values.mean()),
        "min": float(values.min()),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(values.max()),
    }


def write_trec_run(path: str | Path, run: Mapping[str, Mapping[str, float]], tag: str) -> Path:
    """Write ``qid Q0 docid rank score tag`` lines: queries in id order, documents by score (then id).

    Ids and the tag are whitespace-separated fields, so they must hold no whitespace.
    """
    _check_field(tag, "run tag")
    lines = []
    for qid in sorted(run):
        _check_field(qid, "query id")
        ranked = sorted(run[qid].items(), key=lambda item: (-item[1], item[0]))
        for rank, (doc_id, score) in enumerate(ranked, start=1):
            _check_field(doc_id, "document id")
            if not math.isfinite(score):
                raise ValueError(f"score of query '{qid}', document '{doc_id}' is not finite: {score}")
            lines.append(f"{qid} Q0 {doc_id} {rank} {float(score)!r} {tag}\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")
    return path


def plot_recall(curves: Mapping[str, Mapping[int, float]], path: str | Path, *, title: str = "Recall@k") -> Path:
    """Draw one Recall@k line per mode (log-scaled k) into a PNG at ``path``."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotUnavailable() from exc
    if not curves:
        raise ValueError("no recall curves to plot")
    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for mode, curve in curves.items():
        ks = sorted(curve)
        axes.plot(ks, [curve[k] for k in ks], marker="o", label=mode)
    axes.set_xscale("log")
    axes.set_xlabel("k (documents retrieved)")
    axes.set_ylabel("Recall@k")
    axes.set_ylim(0.0, 1.02)
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def _check_field(value: str, what: str) -> None:
    if not value or any(ch.isspace() for ch in value):
        raise ValueError(f"{what} '{value}' cannot go in a TREC run: it must be non-empty with no whitespace")
