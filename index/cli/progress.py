"""Progress bars for long work, drawn on stderr only when it is a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

LABELS = {"reading": "Reading documents", "encoding": "Encoding passages", "querying": "Running queries"}


@contextmanager
def phase_progress(console: Console, enabled: bool = True) -> Iterator:
    """Yield a callback(phase, done, total) that drives one bar per phase (or does nothing)."""
    if not (enabled and console.is_terminal):
        yield None
        return
    bars = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False,
    )
    tasks: dict[str, int] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bars.add_task(LABELS.get(phase, phase), total=total)
        bars.update(tasks[phase], completed=done, total=total)

    with bars:
        yield update
