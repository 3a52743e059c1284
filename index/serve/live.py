"""A live handle on an index for long-running servers: answers from the last complete generation and
switches to a new one without a restart.

`semsearch index` (or `watch`) writes a whole new generation and only then swaps manifest.json, so a
server notices a new generation by the manifest file changing (os.replace gives it a new inode). A
background thread polls it (a stat every ``poll_seconds``), opens the new generation, warms it (query
encoder loaded, one question asked) and only then swaps it in. Questions already running finish on
the generation they started on; that one is closed when its last question is done. A question that
fails because its generation vanished under it (the builder keeps only the current and the previous
generation) is asked again of the newer one, so no question fails during a switch.

A Searcher belongs to one thread (its SQLite connection refuses others; its last query vector is not
guarded), so each generation has its own worker thread that opens it, answers every question asked of
it in turn, and closes it. Questions are CPU-bound: a second thread would only contend for the cores.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from embed.errors import EmbedError
from index.api import describe_index, open_index, resolve_dir
from index.errors import IndexCorrupt, IndexNotFound, SemsearchError
from index.search.searcher import Searcher
from index.storage.manifest import manifest_path

T = TypeVar("T")
# what a question on a generation deleted under it raises: files gone, faiss's C++ error, SQLite's
VANISHED = (IndexCorrupt, OSError, RuntimeError, sqlite3.Error)


class IndexUnavailable(SemsearchError):
    """No complete index can be opened right now (none yet, or a damaged one): servers answer 503."""


@dataclass
class Generation:
    """One opened generation and the worker thread that owns it, shared by the questions running on it."""

    name: str
    searcher: Searcher
    worker: ThreadPoolExecutor
    users: int = 0
    retired: bool = False
    closed: bool = False
    info: dict | None = None

    def ask(self, question: Callable[[Searcher], T]) -> T:
        return self.worker.submit(question, self.searcher).result()

    def close_if_idle(self) -> None:
        if self.retired and self.users == 0 and not self.closed:
            self.closed = True
            self.worker.submit(self.searcher.close)
            self.worker.shutdown(wait=False)


class LiveIndex:
    """The current generation of ``directory``; ``start()`` begins watching manifest.json for new ones."""

    def __init__(
        self, directory: str | Path | None = None, *, fusion: str | None = None, poll_seconds: float = 0.25,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = resolve_dir(directory)
        self.fusion = fusion
        self.poll_seconds = poll_seconds
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._current: Generation | None = None
        self._problem: str = str(IndexNotFound(str(self.directory)))
        self._stamp: tuple | None = None
        self._swap = threading.Lock()  # guards _current / users / retired
        self._refreshing = threading.Lock()  # one opener at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> LiveIndex:
        """Open the current generation (if any) and watch for new ones in a background thread."""
        self.refresh()
        if self._thread is None:
            self._thread = threading.Thread(target=self._poll, name="semsearch-live-index", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._swap:
            current, self._current = self._current, None
            if current is not None:
                current.retired = True
                current.close_if_idle()

    def __enter__(self) -> LiveIndex:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception as exc:  # noqa: BLE001 - the poller must outlive any one bad generation
                self.log(f"semsearch: could not check {self.directory} for a new generation: {exc}")

    # -- switching ---------------------------------------------------------------------------------
    @property
    def generation(self) -> str | None:
        current = self._current
        return current.name if current else None

    @property
    def problem(self) -> str:
        """Why no generation is open (or the last new one failed to open), as one line."""
        return self._problem

    def refresh(self) -> bool:
        """Swap in the manifest's generation if it is new; True when a switch happened."""
        with self._refreshing:
            stamp = manifest_stamp(self.directory)
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            if stamp is None:  # no manifest (yet, or deleted): keep answering from what is open
                if self._current is None:
                    self._problem = str(IndexNotFound(str(self.directory)))
                return False
            try:
                opened = open_generation(self.directory, self.fusion)
            except (SemsearchError, EmbedError, OSError) as exc:  # keep answering from the last good one
                self._problem = one_line(exc)
                if self._current is not None:
                    self.log(f"semsearch: still answering from {self._current.name}: {self._problem}")
                return False
            if self._current is not None and opened.name == self._current.name:
                opened.retired = True
                opened.close_if_idle()
                return False
            self._swap_in(opened)
            return True

    def _swap_in(self, opened: Generation) -> None:
        with self._swap:
            old, self._current = self._current, opened
            if old is not None:
                old.retired = True
                old.close_if_idle()
        if old is not None:
            self.log(f"semsearch: switched {self.directory} from {old.name} to {opened.name}")

    # -- answering ---------------------------------------------------------------------------------
    @contextmanager
    def _use(self) -> Iterator[Generation]:
        with self._swap:
            current = self._current
            if current is None:
                raise IndexUnavailable(self._problem)
            current.users += 1
        try:
            yield current
        finally:
            with self._swap:
                current.users -= 1
                current.close_if_idle()

    def run(self, question: Callable[[Searcher], T]) -> T:
        """``question(searcher)`` on the current generation; asked again of a newer one if its own vanished."""
        with self._use() as used:
            try:
                return used.ask(question)
            except VANISHED:
                if self._current is used and not self.refresh():
                    raise
        with self._use() as newer:
            return newer.ask(question)

    async def run_async(self, question: Callable[[Searcher], T]) -> T:
        """``run`` for an event loop: the question goes straight to the generation's worker thread."""
        with self._use() as used:
            try:
                return await asyncio.wrap_future(used.worker.submit(question, used.searcher))
            except VANISHED:
                if self._current is used and not await asyncio.to_thread(self.refresh):
                    raise
        with self._use() as newer:
            return await asyncio.wrap_future(newer.worker.submit(question, newer.searcher))

    def info(self) -> dict:
        """What `semsearch info --json` prints, for the generation being answered from (cached per generation)."""
        with self._use() as used:
            if used.info is None:
                used.info = used.ask(lambda searcher: describe_index(self.directory).to_dict())
            return used.info


def manifest_stamp(directory: Path) -> tuple | None:
    try:
        st = os.stat(manifest_path(directory))
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def open_generation(directory: Path, fusion: str | None) -> Generation:
    """Open and warm the manifest's generation in a new worker thread: the query encoder is loaded and one
    question asked, so the first real question after a switch is as fast as any other."""
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="semsearch-generation")
    try:
        searcher = worker.submit(open_warm, directory, fusion).result()
    except BaseException:
        worker.shutdown(wait=False)
        raise
    return Generation(str(searcher.reader.manifest.generation), searcher, worker)


def open_warm(directory: Path, fusion: str | None) -> Searcher:
    searcher = open_index(directory, fusion=fusion, warm=True)
    try:
        searcher.ask("warm up", k=1)
    except (SemsearchError, EmbedError):
        pass  # e.g. a model that cannot load: questions will say so themselves
    except BaseException:
        searcher.close()
        raise
    return searcher


def one_line(exc: BaseException) -> str:
    return " ".join(line.strip() for line in str(exc).strip().splitlines()) or type(exc).__name__
