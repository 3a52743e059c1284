"""Human-readable rendering of a BenchReport (a rich table), and where --save-run files go. CLI use only."""

from __future__ import annotations

import re
from pathlib import Path

from rich import box
from rich.markup import escape
from rich.table import Table

from index.evaluate.results import BenchReport, ModeResult

METRIC_COLUMNS = (
    ("nDCG@10", "ndcg@10"), ("R@1", "recall@1"), ("R@5", "recall@5"), ("R@10", "recall@10"),
    ("R@100", "recall@100"), ("MRR@10", "mrr@10"), ("MAP@100", "map@100"),
)
SPEED_COLUMNS = (
    ("encode p50", "encode_p50"), ("search p50", "search_p50"), ("p50", "p50"), ("p95", "p95"), ("p99", "p99"),
    ("index p/s", "index"),
)


def format_size(size: int) -> str:
    from index.cli.format import format_size as fmt

    return fmt(size)


def summary_line(report: BenchReport) -> str:
    idx = report.index
    built = "cached" if idx.cached else "built"
    model = escape(report.model) if report.model else "none (lexical only)"
    return (
        f"[bold]{escape(report.dataset)}[/] ({escape(report.split)}): {report.queries} queries, "
        f"{idx.documents} documents, {idx.passages} passages; model {model}"
        + (f" (passages encoded in {idx.precision})" if idx.precision else "") + "\n"
        f"index {built}: {idx.passages_per_s:.0f} passages/s{'*' if idx.cached else ''}, "
        f"{idx.seconds:.1f} s, {format_size(idx.size_bytes)} on disk; peak memory {report.peak_rss_mb:.0f} MiB"
        + (f"\ndense index {escape(idx.faiss)}" if idx.faiss else "")
        + (f": recall@10 against exact search {report.approx_recall:.4f}" if report.approx_recall is not None
           else " (exact search)" if idx.faiss else "")
        + ("\n* measured when the cached index was built" if idx.cached else "")
    )


def results_tables(report: BenchReport) -> list[Table]:
    """Two narrow tables (quality, then speed), readable in an 80-column terminal."""
    quality = Table(title="quality", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1), pad_edge=False)
    speed = Table(title="speed: ms per query; indexing in passages/s", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1), pad_edge=False)
    for table, columns in ((quality, METRIC_COLUMNS), (speed, SPEED_COLUMNS)):
        table.add_column("mode", no_wrap=True)
        for title, _ in columns:
            table.add_column(title, justify="right", no_wrap=True)
    for row in report.results:
        quality.add_row(*quality_cells(row))
        speed.add_row(*speed_cells(row, report))
    return [quality, speed]


def quality_cells(row: ModeResult) -> list[str]:
    if not row.available:
        return [escape(row.label), "[yellow]unavailable[/]"] + [""] * (len(METRIC_COLUMNS) - 1)
    return [escape(row.label)] + [f"{row.metrics[key]:.4f}" for _, key in METRIC_COLUMNS]


def speed_cells(row: ModeResult, report: BenchReport) -> list[str]:
    if not row.available:
        return [escape(row.label), "[yellow]unavailable[/]"] + [""] * (len(SPEED_COLUMNS) - 1)
    cells = [escape(row.label)]
    for _, key in SPEED_COLUMNS:
        if key == "index":
            cells.append(f"{report.index.passages_per_s:.0f}" + ("*" if report.index.cached else ""))
        elif key == "encode_p50" and row.mode == "lexical":
            cells.append("-")
        else:
            cells.append(f"{row.latency_ms[key]:.1f}")
    return cells


def run_paths(target: Path, report: BenchReport) -> list[tuple[ModeResult, Path]]:
    """One TREC run file per available row: FILE itself for one row, else FILE with the mode before the suffix."""
    rows = [row for row in report.results if row.available]
    if len(rows) == 1:
        return [(rows[0], target)]
    return [(row, target.with_name(f"{target.stem}.{slug(row.label)}{target.suffix}")) for row in rows]


def slug(label: str) -> str:
    """'hybrid rrf:10' -> 'hybrid-rrf10' (safe in file names and as a TREC run tag)."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", label.replace(":", "")).strip("-")
