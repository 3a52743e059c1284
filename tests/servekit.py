"""Helpers for the server tests: a tiny indexed corpus, and a real uvicorn server on 127.0.0.1 with an
ephemeral port over a LiveIndex, started and stopped by the test."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from index.api import index_paths
from tests.corpus import write_corpus

ROOT = Path(__file__).resolve().parents[1]


def build_corpus_index(root: Path, model_dir: Path) -> Path:
    """docs/ (tests/corpus.py) indexed into root/idx with the tiny model; returns the index directory."""
    write_corpus(root / "docs")
    index_paths([root / "docs"], root / "idx", model=str(model_dir))
    return root / "idx"


@contextmanager
def running_server(directory: Path, poll_seconds: float = 0.05):
    """(base url, LiveIndex) of a live HTTP server on an ephemeral loopback port."""
    from index.serve.http import create_app
    from index.serve.live import LiveIndex
    from index.serve.server import ThreadedServer

    live = LiveIndex(directory, poll_seconds=poll_seconds, log=lambda line: None).start()
    try:
        with ThreadedServer(create_app(live)) as url:
            yield url, live
    finally:
        live.close()


def wait_for(condition, timeout: float = 15.0, step: float = 0.05):
    """Poll ``condition()`` until it returns something truthy (returned) or ``timeout`` passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)


def moon_id(directory: Path) -> str:
    """The id of the moon article's first passage, as the index names it (ids follow the indexed root)."""
    from index.api import open_index

    with open_index(directory) as searcher:
        hit = searcher.ask("astronauts landed lunar module", k=1, mode="lexical").hits[0]
    assert hit.title == "Moon Landing Anniversary" and hit.id.endswith("#0")
    return hit.id
