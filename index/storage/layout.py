"""The index directory: generations, the writer lock, and clean-up of stale generations.

    DIR/manifest.json         names the current generation (replaced atomically)
    DIR/gen-000007/           passages.sqlite, vectors.npy, vector_ids.npy, faiss.index
    DIR/.lock                 flock held by the one `semsearch index` writing DIR

A writer builds a complete new generation beside the current one and only then swaps the
manifest, so a reader (or a writer killed at any moment) always sees a whole, consistent index.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.errors import IndexBusy, unwritable

GENERATION = re.compile(r"^gen-(\d{6,})$")
LOCK_NAME = ".lock"


def default_index_dir() -> Path:
    return Path(os.environ.get("SEMSEARCH_INDEX") or ".semsearch")


def generation_name(number: int) -> str:
    return f"gen-{number:06d}"


def next_generation(directory: Path) -> str:
    numbers = [int(m.group(1)) for p in directory.iterdir() if (m := GENERATION.match(p.name.split(".")[0]))]
    return generation_name(max(numbers, default=0) + 1)


@contextmanager
def writer_lock(directory: Path, *, wait: bool = False) -> Iterator[None]:
    """Hold DIR/.lock for the duration: a second writer waits (wait=True) or gets IndexBusy.

    A folder that cannot be made or written (a file in the way, no permission) is IndexUnwritable."""
    try:
        if directory.exists() and not directory.is_dir():
            raise FileExistsError(17, "File exists", str(directory))
        directory.mkdir(parents=True, exist_ok=True)
        handle = open(directory / LOCK_NAME, "a+")
    except OSError as error:
        raise unwritable(str(directory), error) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IndexBusy(str(directory), holder) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the flock; a killed process releases it too


def remove_stale_generations(directory: Path, keep: set[str]) -> None:
    """Delete generation folders that no manifest names any more, and temp files of killed writes
    (``.NAME.tmp-PID`` from index/storage/atomic.py). Call it holding the writer lock."""
    for path in directory.iterdir():
        if path.is_dir() and path.name.startswith("gen-") and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.name.startswith(".") and ".tmp-" in path.name:
            path.unlink(missing_ok=True)
