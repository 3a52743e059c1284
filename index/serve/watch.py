"""`semsearch watch`: keep an index in step with folders, re-indexing after each burst of changes.

watchfiles (Rust notify) reports changes; a burst is closed after ``quiet_ms`` without a new change
(or ``max_wait_ms`` at most), then one ordinary index run brings the index up to date: it hashes the
files and encodes only what changed, writing a whole new generation and then swapping the manifest,
so a reader (or `serve`) never sees half a run. A bad file is skipped with one line, a failed run is one
line, and watching goes on. ``stop`` (Ctrl-C in the CLI) ends the watch between runs, never inside one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from embed.errors import EmbedError, PathNotFound
from embed.text.documents import SUPPORTED_SUFFIXES
from index.api import index_paths, resolve_dir
from index.errors import SemsearchError
from index.serve.live import one_line

Report = Callable[[str], None]


def watch_filter(index_dir: Path):
    """Changes worth a run: document files (and folders, which carry no suffix), never the index itself."""
    from watchfiles import DefaultFilter

    index_prefix = str(index_dir.resolve())

    class DocumentFilter(DefaultFilter):
        def __call__(self, change, path: str) -> bool:
            if path == index_prefix or path.startswith(index_prefix + "/"):
                return False
            suffix = Path(path).suffix.lower()
            return (not suffix or suffix in SUPPORTED_SUFFIXES) and super().__call__(change, path)

    return DocumentFilter()


class Watcher:
    """Index ``paths`` into ``directory`` now and after every burst of changes, until ``stop()``."""

    def __init__(
        self, paths: Sequence[str | Path], directory: str | Path | None = None, *, model: str | None = None,
        quiet_ms: int = 300, max_wait_ms: int = 3000, report: Report = print,
        after_run: Callable[[], None] | None = None,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.directory = resolve_dir(directory)
        self.model = model
        self.quiet_ms = quiet_ms
        self.max_wait_ms = max_wait_ms
        self.report = report
        self.after_run = after_run
        self.runs = 0
        self.stopping = threading.Event()

    def check_paths(self) -> None:
        for path in self.paths:
            if not path.exists():
                raise PathNotFound(str(path))

    def run_once(self) -> bool:
        """One index run; any failure is one reported line. True when the run succeeded."""
        started = time.perf_counter()
        try:
            report = index_paths(self.paths, self.directory, model=self.model, wait=True)
        except (SemsearchError, EmbedError) as exc:
            self.report(f"index run failed: {one_line(exc)}")
            return False
        except Exception as exc:  # noqa: BLE001 - a watcher outlives one failed run; the line says what broke
            self.report(f"index run failed ({type(exc).__name__}): {one_line(exc)}")
            return False
        finally:
            self.runs += 1
        for skipped in report.skipped:
            self.report(f"skipped {skipped.path}: {skipped.reason}")
        self.report(
            f"indexed in {time.perf_counter() - started:.1f} s: added {report.added}, updated {report.updated}, "
            f"removed {report.removed}, unchanged {report.unchanged}; {report.passages} passages"
        )
        if self.after_run is not None:
            self.after_run()
        return True

    def run(self) -> None:
        """Index once, then after each burst of changes until ``stop()``; PathNotFound if a path is missing."""
        from watchfiles import watch

        self.check_paths()
        self.run_once()
        for changes in watch(
            *self.paths, watch_filter=watch_filter(self.directory), step=self.quiet_ms, debounce=self.max_wait_ms,
            stop_event=self.stopping, raise_interrupt=False, rust_timeout=500, yield_on_timeout=False,
        ):
            if self.stopping.is_set():
                break
            self.report(f"{len(changes)} change(s), e.g. {describe(changes)}; indexing")
            self.run_once()

    def stop(self) -> None:
        """End the watch after the run in progress (if any) has finished."""
        self.stopping.set()

    def start_thread(self) -> threading.Thread:
        """Run in a background thread (serve --watch, tests); a failure to start is reported as one line."""
        def target() -> None:
            try:
                self.run()
            except (SemsearchError, EmbedError) as exc:
                self.report(f"watch stopped: {one_line(exc)}")

        thread = threading.Thread(target=target, name="semsearch-watch", daemon=True)
        thread.start()
        return thread


def describe(changes) -> str:
    change, path = sorted(changes, key=lambda c: c[1])[0]
    return f"{change.name} {path}"
