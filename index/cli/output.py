"""The typer commands' consoles and the one place a library error becomes a message (``friendly_errors``)."""

from __future__ import annotations

import json
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from index.cli.messages import HANDLED, error_message

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


@contextmanager
def friendly_errors():
    """Library errors (SemsearchError) become one line on stderr and exit 1; Ctrl-C exits 130; never a traceback."""
    try:
        yield
    except HANDLED as exc:
        label, message, code = error_message(exc)
        err.print(f"[bold red]{label}[/] {escape(message)}" if label else escape(message))
        raise typer.Exit(code) from None


def print_json(payload: dict) -> None:
    typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
