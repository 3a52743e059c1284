"""The `semsearch` command: parses, calls the library, formats. Nothing else in semsearch prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from index.cli.output import err, fail, friendly_errors, out, print_json
from index.cli.typer_options import IndexDir, JsonFlag, command_argument, command_option

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Local semantic search over your articles: index paragraphs, ask questions, find related passages.",
)


@app.command("index")
def index_cmd(
    paths: list[Path] = typer.Argument(..., help="Files and folders (.txt .md .html .jsonl .pdf .docx), searched recursively."),
    index_dir: Optional[Path] = IndexDir,
    model: Optional[str] = typer.Option(
        None, "--model", envvar="SEMSEARCH_MODEL", show_default=False,
        help="Hub id or local directory of a sentence-transformers model "
        "[default: the index's own model, else sentence-transformers/all-MiniLM-L6-v2]",
    ),
    rebuild: bool = typer.Option(False, "--rebuild", help="Start the index over (e.g. with another model)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for another running `index` instead of refusing."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Passages per encoding batch."),
    index_type: str = typer.Option(
        "auto", "--index-type", help="auto | flat | hnsw | ivf (auto: exact flat up to 50,000 passages, then "
        "IVF; the index keeps a type you name)."
    ),
    vectors: str = typer.Option(
        "auto", "--vectors", help="auto | fp32 | fp16 | sq8: codes the vector index keeps (compact ones are "
        "re-scored exactly; auto: fp32 for flat, sq8 for hnsw/ivf)."
    ),
    precision: str = typer.Option(
        "auto", "--precision", help="auto | fp32 | bf16: how OpenVINO encodes passages (auto: what it "
        "picks for the CPU: bf16 with AMX or AVX-512 BF16, else fp32)."
    ),
    store: Optional[str] = typer.Option(
        None, "--store", show_default=False, help="Where passages and vectors live: local (FAISS + SQLite in the "
        "index directory), milvus:./FILE.db (Milvus Lite) or milvus:http://HOST:19530 (a Milvus server; token "
        "from $SEMSEARCH_MILVUS_TOKEN) [default: the index's own, else local]"
    ),
    ray: Optional[str] = typer.Option(
        None, "--ray", metavar="ADDRESS", show_default=False, help="Encode passages on Ray: 'local' starts a "
        "local Ray, else a cluster address ('auto', 'ray://HOST:10001'); needs a --store such as milvus:..."
    ),
    ray_workers: Optional[int] = typer.Option(None, "--ray-workers", min=1, help="Ray encoder actors (one CPU each)."),
    as_json: bool = JsonFlag,
) -> None:
    """Index (or update) the passages of PATHS; only changed passages are re-embedded."""
    from index.api import index_paths
    from index.cli.progress import phase_progress

    with friendly_errors(), phase_progress(err, enabled=not as_json) as progress:
        report = index_paths(
            paths, index_dir, model=model, rebuild=rebuild, wait=wait, batch_size=batch_size, precision=precision,
            index_type=index_type, vectors=vectors, store=store, ray=ray, ray_workers=ray_workers, progress=progress,
        )
    for skipped in report.skipped:  # a skipped file, folder or jsonl line; or a note (e.g. bytes replaced)
        label = "skipped " if getattr(skipped, "kind", "skipped") == "skipped" else ""
        err.print(f"[yellow]warning:[/] {label}{escape(skipped.path)}: {escape(skipped.reason)}")
    if report.model_notice:
        err.print(f"[yellow]notice:[/] stored passages and the lexical index only. {escape(report.model_notice)}")
    if report.query_encoder_notice:
        err.print(f"[yellow]notice:[/] {escape(report.query_encoder_notice)}")
    if as_json:
        print_json(report.to_dict())
        return
    from index.cli.format import format_index_report

    out.print(format_index_report(report))


@app.command()
def ask(
    question: str = command_argument("ask"),
    k: int = command_option("ask", "k"),
    mode: str = command_option("ask", "mode"),
    fusion: Optional[str] = command_option("ask", "fusion"),
    index_dir: Optional[Path] = command_option("ask", "index_dir"),
    as_json: bool = command_option("ask", "as_json"),
    rerank: bool = command_option("ask", "rerank"),
    rerank_model: Optional[str] = command_option("ask", "rerank_model"),
    rerank_top: int = command_option("ask", "rerank_top"),
) -> None:
    """Return the passages closest in meaning to QUESTION."""
    from index.cli import present  # plain command lines come here without typer: see index/cli/quick.py

    request = present.Request(
        "ask", query=question, k=k, mode=mode, fusion=fusion, index_dir=index_dir, as_json=as_json,
        rerank=rerank, rerank_model=rerank_model, rerank_top=rerank_top,
    )
    raise typer.Exit(present.answer(request))


@app.command()
def related(
    passage_id: Optional[str] = command_argument("related"),
    text: Optional[str] = command_option("related", "text"),
    k: int = command_option("related", "k"),
    other_articles: bool = command_option("related", "other_articles"),
    mode: str = command_option("related", "mode"),
    fusion: Optional[str] = command_option("related", "fusion"),
    index_dir: Optional[Path] = command_option("related", "index_dir"),
    as_json: bool = command_option("related", "as_json"),
    rerank: bool = command_option("related", "rerank"),
    rerank_model: Optional[str] = command_option("related", "rerank_model"),
    rerank_top: int = command_option("related", "rerank_top"),
) -> None:
    """Return the passages nearest to a passage of the index (never the passage itself), or to --text."""
    from index.cli import present

    if (passage_id is None) == (text is None):
        fail("give a PASSAGE_ID or --text \"...\" (exactly one)", 2)
    request = present.Request(
        "related", passage_id=passage_id, text=text, k=k, mode=mode, fusion=fusion, index_dir=index_dir,
        as_json=as_json, other_articles=other_articles, rerank=rerank, rerank_model=rerank_model,
        rerank_top=rerank_top,
    )
    raise typer.Exit(present.answer(request))


@app.command()
def info(index_dir: Optional[Path] = IndexDir, as_json: bool = JsonFlag) -> None:
    """Show what an index holds: model, counts, size, dates."""
    from index.api import describe_index

    with friendly_errors():
        details = describe_index(index_dir)
    if as_json:
        print_json(details.to_dict())
        return
    from index.cli.format import format_info

    out.print(format_info(details))


from index.cli.bench_cmd import bench; app.command()(bench)  # noqa: E402,E702 - `semsearch bench`
from index.cli.tune_cmd import tune; app.command()(tune)  # noqa: E402,E702 - `semsearch tune`
from index.cli import serve_cmd  # noqa: E402 - `semsearch serve`, `mcp`, `watch` (index/serve/)
for _command in (serve_cmd.serve, serve_cmd.mcp, serve_cmd.watch):
    app.command()(_command)


def main() -> None:  # typer's entry point (the console script is index.cli.quick:main)
    app(prog_name="semsearch")


if __name__ == "__main__":
    sys.exit(main())
