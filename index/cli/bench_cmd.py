"""The `semsearch bench` command: parse options, run index.evaluate.bench, print a table (or JSON), write files."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape


def bench(
    dataset: Path = typer.Argument(..., help="A BEIR directory (corpus.jsonl, queries.jsonl, qrels/) or a SQuAD v1.1 .json file."),
    split: str = typer.Option("test", "--split", help="BEIR qrels split (ignored for SQuAD)."),
    mode: str = typer.Option("all", "--mode", help="lexical | dense | hybrid | all (all: the three side by side)."),
    model: Optional[str] = typer.Option(
        None, "--model", envvar="SEMSEARCH_MODEL", show_default=False,
        help="Hub id or local directory of a sentence-transformers model [default: sentence-transformers/all-MiniLM-L6-v2]",
    ),
    k: int = typer.Option(100, "-k", min=1, help="Documents retrieved per query (Recall@100 / MAP@100 need 100)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N queries (in id order)."),
    fusion: Optional[list[str]] = typer.Option(
        None, "--fusion", help="Hybrid fusion, repeatable for one hybrid row each: rrf, rrf:K, weighted:W [default: the model's own (semsearch.json, from `semsearch tune`), else rrf:10]"
    ),
    save_run: Optional[Path] = typer.Option(
        None, "--save-run", help="Write the run(s) in TREC format; several rows: one file each, the mode before the suffix."
    ),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Draw Recall@k against k for each row into this PNG."),
    index_type: str = typer.Option(
        "auto", "--index-type", help="auto | flat | hnsw | ivf: the dense index (approximate ones report recall@10 against exact)."
    ),
    vectors: str = typer.Option("auto", "--vectors", help="auto | fp32 | fp16 | sq8: the codes the dense index keeps."),
    store: Optional[str] = typer.Option(
        None, "--store", show_default=False, help="Keep the benchmark index's passages and vectors in this store: "
        "milvus:./FILE.db (Milvus Lite) or milvus:http://HOST:19530 [default: local FAISS + SQLite]"
    ),
    index_batch_size: int = typer.Option(32, "--index-batch-size", min=1, help="Passages per encoding batch while indexing."),
    cache_dir: Optional[Path] = typer.Option(
        None, "--cache-dir", help="Where built benchmark indexes are kept [default: $XDG_CACHE_HOME/semsearch/bench]"
    ),
    rerank: bool = typer.Option(
        False, "--rerank", help="Add a '+rerank' row: the first hybrid row's top hits re-scored by a cross-encoder "
        "[model: cross-encoder/ms-marco-MiniLM-L6-v2]",
    ),
    rerank_model: Optional[str] = typer.Option(
        None, "--rerank-model", show_default=False, help="Hub id or directory of the cross-encoder (implies --rerank)."
    ),
    rerank_top: int = typer.Option(30, "--rerank-top", min=1, max=200, help="Hits the '+rerank' row re-scores per query."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the table."),
) -> None:
    """Measure retrieval quality (nDCG@10, Recall@k, MRR@10, MAP@100) and speed on a labelled DATASET."""
    from index.cli.output import err, friendly_errors
    from index.cli.progress import phase_progress
    from index.evaluate.bench import MODE_CHOICES, BenchOptions, run_bench

    from index.ann.spec import INDEX_TYPES, VECTOR_CODES

    for value, choices, hint in ((mode, MODE_CHOICES, "--mode"), (index_type, INDEX_TYPES, "--index-type"),
                                 (vectors, VECTOR_CODES, "--vectors")):
        if value not in choices:
            raise typer.BadParameter(f"'{value}' is not one of {', '.join(choices)}", param_hint=hint)
    options = BenchOptions(
        mode=mode, model=model, k=k, limit=limit, split=split, fusions=parse_fusions(fusion or []),
        cache_dir=cache_dir, index_batch_size=index_batch_size, keep_runs=bool(save_run or plot),
        index_type=index_type, vectors=vectors, store=store, rerank=rerank, rerank_model=rerank_model, rerank_top=rerank_top,
    )
    with friendly_errors(), phase_progress(err, enabled=not as_json) as progress:
        report = run_bench(dataset, options, progress)
    if fusion and "hybrid" not in options.modes():
        report.notices.append(f"--fusion applies to hybrid rows only; --mode {mode} has none")
    write_outputs(report, save_run, plot)
    show(report, as_json)


def show(report, as_json: bool) -> None:
    from index.cli.output import err, out, print_json

    for notice in report.notices:
        err.print(f"[yellow]notice:[/] {escape(notice)}")
    if as_json:
        print_json(report.to_dict())
        return
    from index.cli.bench_format import results_tables, summary_line

    out.print(summary_line(report))
    for table in results_tables(report):
        out.print(table)


def parse_fusions(texts: list[str]) -> tuple:
    from index.search.fusion import parse_fusion

    try:
        return tuple(parse_fusion(text) for text in texts)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fusion") from None


def write_outputs(report, save_run: Path | None, plot: Path | None) -> None:
    from index.cli.bench_format import run_paths, slug
    from index.cli.output import err, fail, friendly_errors
    from index.evaluate.report import plot_recall, write_trec_run

    try:
        for row, path in run_paths(save_run, report) if save_run else []:
            write_trec_run(path, row.run, tag=f"semsearch-{slug(row.label)}")
            err.print(f"wrote {escape(str(path))}")
        if plot and report.curves:
            with friendly_errors():  # PlotUnavailable
                plot_recall(report.curves, plot, title=f"Recall@k: {report.dataset} ({report.split})")
            err.print(f"wrote {escape(str(plot))}")
    except (OSError, ValueError) as exc:  # the files asked for cannot be written
        fail(str(exc))
