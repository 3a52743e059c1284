"""`semsearch bench`: build (or reuse) an index of a labelled dataset, run its queries, measure quality and speed.

    from index.evaluate.bench import BenchOptions, run_bench
    report = run_bench("../shared/datasets/beir_scifact", BenchOptions(mode="lexical"))
    report.results[0].metrics["ndcg@10"]

The corpus goes through the same pipeline as `semsearch index` (``index_documents``: documents ->
passages -> vectors + BM25); the index is cached (see ``index.evaluate.cache``), so a second run only
queries. Each query is asked through the product's own ``Searcher.ask`` (``index.evaluate.queries``), one
at a time; passage hits are collapsed to their document (doc score = its best passage's score) and
scored with trec_eval (``index.evaluate.metrics``).
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from embed.errors import ModelUnavailable
from embed.records import Document
from index.evaluate.results import (  # noqa: F401 - the benchmark's public names, importable from here
    DEFAULT_K, METRIC_KEYS, MODE_CHOICES, MODES, RECALL_CURVE_KS, BenchOptionError, BenchOptions, BenchReport,
    IndexStats, ModeResult, PhaseProgress,
)


def bench_documents(documents: Sequence[Document], title_in_text: bool) -> list[Document]:
    """The documents as indexed: with ``title_in_text``, text = title + "\\n\\n" + text (title kept too).

    The encoder only sees passage text, so without this the title (SciFact: the paper title) never
    reaches the vectors; MTEB embeds ``title + " " + text``. Only the first passage holds the title.
    BM25 already indexes Document.title in its own column, so a lexical-only index skips this.
    """
    if not title_in_text:
        return list(documents)
    return [replace(d, text=f"{d.title}\n\n{d.text}") if d.title.strip() else d for d in documents]


def run_bench(dataset: str | Path, options: BenchOptions = BenchOptions(), progress: PhaseProgress | None = None):
    """Benchmark ``dataset`` (BEIR dir or SQuAD v1.1 json). Raises DatasetError, BenchOptionError, and
    ModelUnavailable when every requested mode needs the model and it cannot be loaded."""
    from index.evaluate.cache import prepare_index
    from index.evaluate.datasets import limit_queries, load_dataset
    from index.search.reader import open_reader

    modes = options.modes()
    if options.k < 1:
        raise BenchOptionError(f"-k must be at least 1 (got {options.k})")
    ds = load_dataset(dataset, options.split)
    if options.limit is not None:
        ds = limit_queries(ds, options.limit)
    encoder, model, notice = load_query_encoder(modes, options.model)
    documents = bench_documents(ds.documents, options.title_in_text and encoder is not None)
    stats = prepare_index(Path(dataset), documents, encoder, options, progress)
    reader = open_reader(Path(stats.directory))
    try:
        rows, approx = run_rows(reader, ds, modes, encoder, model if encoder is not None else None, options,
                                progress)
    finally:
        reader.close()
    for row in rows:
        if not row.available:
            row.notice = notice
    curves = recall_curves(ds.qrels, rows, options) if options.keep_runs else {}
    return BenchReport(
        dataset=ds.name, split=ds.split, queries=len(ds.queries), index=stats, results=rows,
        model=model if encoder is not None else None, peak_rss_mb=peak_rss_mb(),
        notices=[notice] if notice else [], curves=curves, approx_recall=approx,
    )


def load_query_encoder(modes: Sequence[str], model: str | None):
    """(encoder or None, model name, notice): load the model only when a mode needs it."""
    from embed.encode.models import resolve_model_name

    name = resolve_model_name(model)
    if not any(mode in ("dense", "hybrid") for mode in modes):
        return None, name, None
    from embed.encode.factory import open_encoder

    try:  # the passage encoder `semsearch index` uses (its model id and fingerprint key the bench index cache)
        return open_encoder(name).encoder, name, None
    except ModelUnavailable as exc:
        if "lexical" not in modes:
            raise
        return None, name, f"dense and hybrid rows skipped: {exc}"


def run_rows(reader, ds, modes, encoder, model: str | None, options: BenchOptions, progress
             ) -> tuple[list[ModeResult], float | None]:
    """The report's rows, and the dense index's recall@10 against exact search (None when it is exact).
    Without --fusion the hybrid row fuses as the model folder recommends (its semsearch.json), else rrf:10."""
    from index.evaluate.queries import plan_rows, run_queries
    from index.search.model_fusion import model_fusion

    fusions = options.fusion_list(model_fusion(model)) if "hybrid" in modes else ()
    planned = plan_rows(modes, fusions, dense=encoder is not None)
    if options.rerank or options.rerank_model:
        planned.append(rerank_row(planned, options))
    measured, approx = run_queries(reader, ds.queries, ds.qrels, encoder, planned, options.k, progress,
                                   keep_runs=options.keep_runs)
    rows = []
    for mode in modes:
        labels = [("hybrid", f.label()) for f in fusions] if mode == "hybrid" else [(mode, None)]
        for name, fusion in labels:
            key = f"hybrid {fusion}" if fusion else name
            rows.append(measured.get(key) or ModeResult(name, fusion, available=False))
    rows += [measured[row.key] for row in planned if row.rerank is not None]
    return rows, approx


def rerank_row(planned, options: BenchOptions):
    """The "+rerank" row: the first hybrid row (else the last row) with its top hits re-scored by a cross-encoder."""
    from dataclasses import replace

    from embed.encode.rerank import load_reranker
    from index.search.rerank import check_top

    check_top(options.rerank_top)
    if not planned:
        raise BenchOptionError("--rerank needs a row to rerank; the model for dense and hybrid could not be loaded")
    base = next((row for row in planned if row.fusion is not None), planned[-1])
    return replace(base, key=f"{base.key} +rerank", rerank=load_reranker(options.rerank_model),
                   rerank_top=options.rerank_top)


def recall_curves(qrels, rows: list[ModeResult], options: BenchOptions) -> dict[str, dict[int, float]]:
    from index.evaluate.metrics import recall_curve

    ks = [k for k in RECALL_CURVE_KS if k <= options.k] or [options.k]
    return {row.label: recall_curve(qrels, row.run, ks) for row in rows if row.available and row.run is not None}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
