"""`semsearch bench`: build (or reuse) an index of a labelled dataset, run its queries, measure quality and speed.

    from index.evaluate.bench import BenchOptions, run_bench
    report = run_bench("../shared/datasets/beir_scifact", BenchOptions(mode="lexical"))
    report.results[0].metrics["ndcg@10"]

The corpus goes through the same pipeline as `semsearch index` (``index_documents``: documents ->
passages -> vectors + BM25); the index is cached (see ``index.evaluate.cache``), so a second run only
queries. Each query is answered as a user would ask it, one at a time; passage hits are collapsed to
their document (doc score = its best passage's score) and scored with trec_eval (``index.evaluate.metrics``).
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from embed.errors import ModelUnavailable, SemsearchError
from embed.records import Document
from index.search.fusion import FusionConfig

MODES = ("lexical", "dense", "hybrid")
MODE_CHOICES = (*MODES, "all")
DEFAULT_K = 100
RECALL_CURVE_KS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500, 1000)
METRIC_KEYS = ("ndcg@10", "recall@1", "recall@5", "recall@10", "recall@100", "mrr@10", "map@100")

# phase ("encoding" while indexing, "querying"), done, total
PhaseProgress = Callable[[str, int, int], None]


class BenchOptionError(SemsearchError, ValueError):
    """A bad combination of benchmark options (unknown mode, k < 1, ...)."""


@dataclass(frozen=True)
class BenchOptions:
    mode: str = "all"  # lexical | dense | hybrid | all
    model: str | None = None  # None: $SEMSEARCH_MODEL, else all-MiniLM-L6-v2
    k: int = DEFAULT_K  # documents retrieved per query (metrics @100 need k >= 100)
    limit: int | None = None  # only the first N queries (in id order)
    split: str = "test"  # BEIR qrels split; ignored for SQuAD
    fusions: tuple[FusionConfig, ...] = ()  # one hybrid row each; () = the search default (rrf:10)
    cache_dir: Path | None = None  # cache root; None = $XDG_CACHE_HOME/semsearch/bench
    index_batch_size: int = 32
    min_tokens: int = 48
    title_in_text: bool = True  # embed "title\n\ntext" (see bench_documents)
    keep_runs: bool = False  # keep each row's run in memory (for --save-run / --plot)
    index_type: str = "auto"  # auto | flat | hnsw | ivf: the dense index the queries run against
    vectors: str = "auto"  # auto | fp32 | fp16 | sq8: the codes it keeps (compact ones are re-scored)

    def modes(self) -> tuple[str, ...]:
        if self.mode not in MODE_CHOICES:
            raise BenchOptionError(f"unknown mode '{self.mode}'; choose one of {', '.join(MODE_CHOICES)}")
        return MODES if self.mode == "all" else (self.mode,)

    def fusion_list(self) -> tuple[FusionConfig, ...]:
        from index.search.searcher import DEFAULT_FUSION

        return tuple(dict.fromkeys(self.fusions)) or (DEFAULT_FUSION,)


@dataclass
class ModeResult:
    """One row of the report: a mode (hybrid: one per fusion) with its metrics and latencies."""

    mode: str
    fusion: str | None = None
    available: bool = True
    notice: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    run: dict[str, dict[str, float]] | None = None  # qid -> {doc id: score}; kept only on request

    @property
    def label(self) -> str:
        return f"{self.mode} {self.fusion}" if self.fusion else self.mode


@dataclass(frozen=True)
class IndexStats:
    """The index the queries ran against; throughput comes from the run that built it."""

    directory: str
    cached: bool
    documents: int
    passages: int
    vectors: int
    seconds: float
    passages_per_s: float
    size_bytes: int
    model: str | None  # None: a lexical-only index
    chunker: dict
    precision: str | None = None  # how the builder encoded passages ("fp32" / "bf16"), when it says
    faiss: str | None = None  # the dense index ("IDMap2,Flat", "IVF1024,SQ8", ...); None: lexical only


@dataclass
class BenchReport:
    dataset: str
    split: str
    queries: int
    index: IndexStats
    results: list[ModeResult]
    model: str | None
    peak_rss_mb: float
    notices: list[str] = field(default_factory=list)
    curves: dict[str, dict[int, float]] = field(default_factory=dict)  # label -> Recall@k, on request
    approx_recall: float | None = None  # recall@10 of the dense index against exact search; None: exact

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset, "split": self.split, "queries": self.queries,
            "documents": self.index.documents, "passages": self.index.passages, "model": self.model,
            "cached": self.index.cached, "index_bytes": self.index.size_bytes,
            "index_seconds": self.index.seconds, "index_precision": self.index.precision, "peak_rss_mb": round(self.peak_rss_mb, 1),
            "index_faiss": self.index.faiss,
            "approx_recall@10": None if self.approx_recall is None else round(self.approx_recall, 5),
            "results": [row_dict(row, self.index) for row in self.results], "notices": list(self.notices),
        }


def row_dict(row: ModeResult, index: IndexStats) -> dict:
    out: dict = {"mode": row.mode}
    if row.fusion:
        out["fusion"] = row.fusion
    out["available"] = row.available
    if not row.available:
        return {**out, "notice": row.notice, "metrics": None, "latency_ms": None, "index_passages_per_s": None}
    out["metrics"] = {key: round(row.metrics[key], 5) for key in METRIC_KEYS}
    out["latency_ms"] = {key: round(value, 3) for key, value in row.latency_ms.items()}
    out["index_passages_per_s"] = round(index.passages_per_s, 1)
    out["index_cached"] = index.cached
    return out


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
        rows, approx = run_rows(reader, ds, modes, encoder, options, progress)
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
    from embed.encode.sentence_transformers import load_encoder

    try:
        return load_encoder(name), name, None
    except ModelUnavailable as exc:
        if "lexical" not in modes:
            raise
        return None, name, f"dense and hybrid rows skipped: {exc}"


def run_rows(reader, ds, modes, encoder, options: BenchOptions, progress) -> tuple[list[ModeResult], float | None]:
    """The report's rows, and the dense index's recall@10 against exact search (None when it is exact)."""
    from index.evaluate.run import QueryPlan, run_queries

    fusions = options.fusion_list() if "hybrid" in modes else ()
    plan = QueryPlan(
        k=options.k, lexical="lexical" in modes,
        dense=encoder is not None and "dense" in modes, fusions=fusions if encoder is not None else (),
    )
    measured, approx = run_queries(reader, ds.queries, ds.qrels, encoder, plan, progress, keep_runs=options.keep_runs)
    rows = []
    for mode in modes:
        if mode == "hybrid":
            labels = [("hybrid", fusion_label(f)) for f in fusions]
        else:
            labels = [(mode, None)]
        for name, fusion in labels:
            key = f"hybrid {fusion}" if fusion else name
            rows.append(measured.get(key) or ModeResult(name, fusion, available=False))
    return rows, approx


def fusion_label(config: FusionConfig) -> str:
    """'rrf:60' / 'weighted:0.5' always with the number (FusionConfig.describe() drops default values)."""
    value = config.rrf_k if config.method == "rrf" else config.weight_dense
    return f"{config.method}:{value:g}"


def recall_curves(qrels, rows: list[ModeResult], options: BenchOptions) -> dict[str, dict[int, float]]:
    from index.evaluate.metrics import recall_curve

    ks = [k for k in RECALL_CURVE_KS if k <= options.k] or [options.k]
    return {row.label: recall_curve(qrels, row.run, ks) for row in rows if row.available and row.run is not None}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
