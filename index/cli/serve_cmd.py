"""`semsearch serve`, `semsearch mcp`, `semsearch watch`: parse options, open the live index, run the
long-running front end from index/serve/. Library errors become one line through ``friendly_errors``."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from index.cli.typer_options import Fusion as FusionOpt
from index.cli.typer_options import IndexDir


def one_thread_per_question() -> None:
    """A question multiplies small matrices: BLAS threads only fight each other and a busy second core
    (see index/cli/quick.py). Set before numpy is first imported."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def serve(
    index_dir: Optional[Path] = IndexDir,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; anything but loopback is "
                             "reachable from other machines (a warning is printed)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."),
    watch: Optional[list[Path]] = typer.Option(
        None, "--watch", help="Also re-index these files/folders on change (repeatable); answers switch to "
        "each new generation without a restart."
    ),
    model: Optional[str] = typer.Option(None, "--model", envvar="SEMSEARCH_MODEL", show_default=False,
                                        help="Model for --watch runs on a new index (default: the index's own)."),
    fusion: Optional[str] = FusionOpt,
) -> None:
    """Serve the index over HTTP: a JSON API (/api/ask, /api/related, /api/passages/ID, /api/info, /docs)
    and a search page at /. Read-only; switches to a new index generation without a restart."""
    one_thread_per_question()
    from index.cli.output import err, friendly_errors
    from index.serve.server import require

    with friendly_errors():
        require("serve", "fastapi", "uvicorn", *(["watchfiles"] if watch else []))
    from index.serve.http import create_app
    from index.serve.live import LiveIndex
    from index.serve.server import bind_socket, is_loopback, serve_forever

    if not is_loopback(host):
        err.print(f"[yellow]warning:[/] listening on {escape(host)}: other machines can query this index "
                  "(read-only); use the default --host 127.0.0.1 to keep it local")
    with friendly_errors():
        sock = bind_socket(host, port)
        live = LiveIndex(index_dir, fusion=fusion, log=lambda line: err.print(escape(line)))
        watcher = start_watcher(watch, live, model, err) if watch else None
        live.start()
        bound_host, bound_port = sock.getsockname()[:2]
        state = f"answering from {live.generation}" if live.generation else f"waiting: {escape(live.problem)}"
        err.print(f"semsearch: serving {escape(str(live.directory))} at http://{bound_host}:{bound_port}/ "
                  f"({state}); Ctrl-C stops")
        try:
            serve_forever(create_app(live), sock)
        except KeyboardInterrupt:  # uvicorn finished the requests in flight, then re-raised Ctrl-C
            pass
        finally:
            if watcher is not None:
                watcher.stop()
            live.close()
        err.print("semsearch: stopped")


def start_watcher(paths: list[Path], live, model: Optional[str], err):
    from index.serve.watch import Watcher

    watcher = Watcher(paths, live.directory, model=model, report=lambda line: err.print(f"watch: {escape(line)}"),
                      after_run=live.refresh)
    watcher.check_paths()  # a missing path is one error line before the server starts
    watcher.start_thread()
    return watcher


def mcp(
    index_dir: Optional[Path] = IndexDir,
    http: bool = typer.Option(False, "--http", help="Serve streamable HTTP at http://127.0.0.1:PORT/mcp "
                              "instead of stdio."),
    port: int = typer.Option(8001, "--port", min=0, max=65535, help="Port for --http."),
    fusion: Optional[str] = FusionOpt,
) -> None:
    """Run an MCP server (tools: search, get, related, info) for agents; stdio by default. Register it with
    a client as the command `semsearch mcp --index /abs/path/.semsearch`."""
    one_thread_per_question()
    from index.cli.output import err, friendly_errors
    from index.serve.server import bind_socket, require

    with friendly_errors():
        require("mcp", "mcp", *(["uvicorn"] if http else []))
    from index.serve.live import LiveIndex
    from index.serve.mcp import run_mcp

    with friendly_errors():
        sock = bind_socket("127.0.0.1", port) if http else None  # a taken port: one line before anything starts
        # stdout belongs to the protocol: every line for a person goes to stderr
        with LiveIndex(index_dir, fusion=fusion, log=lambda line: print(line, file=sys.stderr, flush=True)) as live:
            if sock is not None:
                err.print(f"semsearch: MCP over streamable HTTP at http://127.0.0.1:{sock.getsockname()[1]}/mcp; "
                          "Ctrl-C stops")
            try:
                run_mcp(live, sock=sock)
            except KeyboardInterrupt:
                pass


def watch(
    paths: list[Path] = typer.Argument(..., help="Files and folders to keep indexed."),
    index_dir: Optional[Path] = IndexDir,
    model: Optional[str] = typer.Option(None, "--model", envvar="SEMSEARCH_MODEL", show_default=False,
                                        help="Model for a new index (default: the index's own, else all-MiniLM-L6-v2)."),
    quiet_ms: int = typer.Option(300, "--debounce", min=10, help="Milliseconds without a change that close a burst."),
) -> None:
    """Index PATHS now and again after every burst of changes; Ctrl-C stops (never inside an index run)."""
    from index.cli.output import err, friendly_errors
    from index.serve.server import require
    from index.serve.watch import Watcher

    with friendly_errors():
        require("watch", "watchfiles")
    watcher = Watcher(paths, index_dir, model=model, quiet_ms=quiet_ms,
                      report=lambda line: err.print(escape(line)))
    with friendly_errors():
        watcher.check_paths()
    err.print(f"watching {escape(', '.join(map(str, paths)))} -> {escape(str(watcher.directory))}; Ctrl-C stops")
    failure: list[BaseException] = []
    thread = threading.Thread(target=lambda: run_catching(watcher, failure), name="semsearch-watch", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:  # finish the run in progress, then stop; a second Ctrl-C leaves at once
        err.print("stopping after the index run in progress (Ctrl-C again to leave now; the index stays whole)")
        watcher.stop()
        try:
            while thread.is_alive():
                thread.join(0.2)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
    with friendly_errors():
        if failure:
            raise failure[0]


def run_catching(watcher, failure: list[BaseException]) -> None:
    try:
        watcher.run()
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which prints it as one line
        failure.append(exc)
