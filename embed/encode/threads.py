"""One BLAS / OpenMP thread while a question is encoded in a long-running process.

A question is a few dozen small matrix products. With a thread per core, OpenBLAS's threads spin against
each other as soon as another process holds a core (measured on this project's 2-core machine: a dense query
p50 of 265 ms under load against 10 ms idle). The cold path sets OPENBLAS_NUM_THREADS=1 before numpy loads
(index/cli/quick.py); servers and benchmarks get the same through threadpoolctl.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

_CONTROLLER: Any = None


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    global _CONTROLLER
    if os.environ.get("OPENBLAS_NUM_THREADS") == "1":  # set before numpy loaded: already one thread
        yield
        return
    if _CONTROLLER is None:  # inspecting the loaded libraries once is enough; later calls just set limits
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    with _CONTROLLER.limit(limits=1):
        yield
