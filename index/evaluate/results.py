"""What a benchmark is asked to do (BenchOptions) and what it reports (BenchReport, one ModeResult per row)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from embed.errors import SemsearchError
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
    fusions: tuple[FusionConfig, ...] = ()  # one hybrid row each; (): the model's fusion, else rrf:10
    cache_dir: Path | None = None  # cache root; None = $XDG_CACHE_HOME/semsearch/bench
    index_batch_size: int = 32
    min_tokens: int = 48
    title_in_text: bool = True  # embed "title\n\ntext" (see bench_documents)
    keep_runs: bool = False  # keep each row's run in memory (for --save-run / --plot)
    index_type: str = "auto"  # auto | flat | hnsw | ivf: the dense index the queries run against
    vectors: str = "auto"  # auto | fp32 | fp16 | sq8: the codes it keeps (compact ones are re-scored)
    store: str | None = None  # where the index keeps passages and vectors (None: local; "milvus:...": index/stores)
    rerank: bool = False  # add a "+rerank" row: the first hybrid row (else the last row) re-scored by a cross-encoder
    rerank_model: str | None = None  # None: embed.encode.rerank.DEFAULT_RERANKER
    rerank_top: int = 30  # hits re-scored per query

    def modes(self) -> tuple[str, ...]:
        if self.mode not in MODE_CHOICES:
            raise BenchOptionError(f"unknown mode '{self.mode}'; choose one of {', '.join(MODE_CHOICES)}")
        return MODES if self.mode == "all" else (self.mode,)

    def fusion_list(self, default: FusionConfig | None = None) -> tuple[FusionConfig, ...]:
        """The --fusion rows; without any, ``default`` (the model's own) or the search default."""
        from index.search.searcher import DEFAULT_FUSION

        return tuple(dict.fromkeys(self.fusions)) or (default or DEFAULT_FUSION,)


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

