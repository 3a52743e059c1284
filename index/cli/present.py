"""Answering `ask` / `related` and showing the hits, without typer or rich.

Importing typer (with click and pydantic) and rich costs ~0.25 s, half of a cold question's budget,
so the question path lives here: index/quick.py runs it straight from the command line and
index/cli.py calls the same ``answer`` after typer has parsed. Output: ANSI styles when the stream
is a terminal (and neither NO_COLOR nor TERM=dumb is set), plain text otherwise, or one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

SGR = {"bold": "1", "dim": "2", "red": "31", "yellow": "33", "cyan": "36"}
Style = Callable[[str, str], str]  # (text, "bold yellow") -> text with or without ANSI codes


@dataclass(frozen=True)
class Request:
    """One `ask` (query) or `related` (passage_id or text) as parsed from the command line."""

    command: str  # "ask" | "related"
    query: str | None = None
    passage_id: str | None = None
    text: str | None = None
    k: int = 5
    mode: str = "auto"
    fusion: str | None = None
    index_dir: Path | None = None
    as_json: bool = False
    other_articles: bool = False
    rerank: bool = False  # re-score the top rerank_top hits with a cross-encoder (index/search/rerank.py)
    rerank_model: str | None = None  # implies rerank; None: embed.encode.rerank.DEFAULT_RERANKER
    rerank_top: int = 30


def styler(stream: TextIO) -> Style:
    """ANSI styling for a terminal; the identity for pipes, files, NO_COLOR and TERM=dumb."""
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()) or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return lambda text, style: text
    return lambda text, style: "\x1b[" + ";".join(SGR[s] for s in style.split()) + "m" + text + "\x1b[0m"


def write_line(stream: TextIO, label: str, style: str, message: str) -> None:
    stream.write(f"{styler(stream)(label, style)} {message}\n")


def answer(request: Request, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the request and write its hits; the exit code: 0, 1 after one error line, 130 if interrupted."""
    from index.api import open_index
    from index.cli.messages import HANDLED, error_message

    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    try:
        with open_index(request.index_dir, fusion=request.fusion) as searcher:
            if request.rerank or request.rerank_model:
                result = search_reranked(searcher, request)
            elif request.command == "ask":
                result = searcher.ask(request.query, k=request.k, mode=request.mode)
            else:
                result = searcher.related(request.passage_id, text=request.text, k=request.k,
                                          other_articles=request.other_articles, mode=request.mode)
            show_result(result, searcher, request, stdout, stderr)
    except HANDLED as exc:
        label, message, code = error_message(exc)
        if label:
            write_line(stderr, label, "bold red", message)
        else:
            stderr.write(message + "\n")
        return code
    return 0


def search_reranked(searcher, request: Request):
    """The request's search with its top hits re-scored by a cross-encoder (loaded first: errors before work)."""
    from embed.encode.rerank import load_reranker
    from index.search.rerank import ask_reranked, check_top, related_reranked

    check_top(request.rerank_top)
    reranker = load_reranker(request.rerank_model)
    if request.command == "ask":
        return ask_reranked(searcher, request.query, reranker, k=request.k, mode=request.mode, top=request.rerank_top)
    return related_reranked(searcher, request.passage_id, reranker, text=request.text, k=request.k,
                            other_articles=request.other_articles, mode=request.mode, top=request.rerank_top)


def show_result(result, searcher, request: Request, stdout: TextIO, stderr: TextIO) -> None:
    encoder_note = getattr(searcher, "encoder_note", None)  # why the question loaded sentence-transformers
    for notice in [*result.notices, *([encoder_note] if encoder_note else [])]:
        write_line(stderr, "notice:", "yellow", notice)
    if request.as_json:
        stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    style = styler(stdout)
    spans = {}
    if request.command == "ask" and style("x", "bold") != "x":  # highlight only where it can be seen
        from index.search.highlight import pick_highlights

        spans = pick_highlights(result, searcher)
    stdout.write(format_hits(result, spans, style) + "\n")


def format_hits(result, spans: dict[str, tuple[int, int]], style: Style) -> str:
    if not result.hits:
        return f"No passages match ({result.mode})."
    blocks = []
    for hit in result.hits:
        head = f"{style(f'{hit.rank}.', 'bold')} {style(f'{hit.score:.3f}', 'cyan')}  {style(hit.title, 'bold')}  {style(hit.id, 'dim')}"
        head += style(f"  p. {hit.page}", "dim") if getattr(hit, "page", None) is not None else ""
        span = spans.get(hit.id)
        text = hit.text if not span else hit.text[: span[0]] + style(hit.text[span[0] : span[1]], "bold yellow") + hit.text[span[1] :]
        blocks.append(head + "\n   " + text)
    return "\n\n".join(blocks) + "\n\n" + style(f"({result.mode})", "dim")
