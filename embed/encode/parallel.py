"""Encode batches side by side on the CPU: one batch per core, each on one thread.

Why: a bfloat16 batch on AMX is a string of small matrix products, each split across all cores and joined
at a barrier. The joins, and a core slowed by anything else on the machine, leave cores idle; running
independent batches on single-threaded workers has no joins. Measured on the 2-core AMX machine of this
project (bench/speed.py, three runs, medians of 5 interleaved passes, 128 and 256 tokens): bf16
passages/s +3% to +33% against one batch at a time on both cores, fp32 +6% to +34%.

Worker threads call the model's ``encode`` concurrently. The forward pass is read-only; a Hugging Face
fast tokenizer is not: a call that asks for other padding or truncation settings than the last one
rewrites them, and fails ("Already borrowed") if another thread is inside the tokenizer. Tokenization is
cheap next to the forward pass, so it is serialised by a lock for the duration.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

Batch = TypeVar("Batch")
Result = TypeVar("Result")
TOKENIZING_METHODS = ("preprocess", "tokenize")  # sentence-transformers 6 / older names


def cpu_batch_workers(model: Any) -> int:
    """Batches to run at once: torch's intra-op thread count on a CPU model (1 means one at a time)."""
    import torch

    device = getattr(model, "device", None)
    if device is not None and getattr(device, "type", "cpu") != "cpu":
        return 1
    return max(1, torch.get_num_threads())


def map_batches(
    encode: Callable[[Batch], Result], batches: Sequence[Batch], *, workers: int, model: Any = None
) -> Iterator[tuple[Batch, Result]]:
    """(batch, encode(batch)) pairs in the order of ``batches``, from ``workers`` single-threaded workers.

    With one worker or one batch, batches run in this thread with torch's usual threads. Tokenizing
    methods of ``model`` are serialised while workers run. An error in a worker is raised here, and the
    batches not yet started are cancelled (as they are when the caller stops early).
    """
    if workers <= 1 or len(batches) <= 1:
        for batch in batches:
            yield batch, encode(batch)
        return
    with _serial_tokenizer(model), ThreadPoolExecutor(workers, initializer=_one_thread) as pool:
        futures = [pool.submit(encode, batch) for batch in batches]
        try:
            for batch, future in zip(batches, futures):
                yield batch, future.result()
        finally:
            for future in futures:
                future.cancel()


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)  # OpenMP's thread count is per calling thread: the caller keeps its own


@contextlib.contextmanager
def _serial_tokenizer(model: Any) -> Iterator[None]:
    """Wrap the model's tokenizing methods in one re-entrant lock; restore them on exit."""
    lock = threading.RLock()
    patched = []
    for name in TOKENIZING_METHODS:
        method = getattr(model, name, None) if model is not None else None
        if callable(method):
            had_own = name in vars(model)
            setattr(model, name, _locked(method, lock))
            patched.append((name, had_own, method))
    try:
        yield
    finally:
        for name, had_own, method in patched:
            if had_own:
                setattr(model, name, method)
            else:
                delattr(model, name)


def _locked(method: Callable[..., Any], lock: threading.RLock) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    return call
