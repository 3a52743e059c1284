"""Encode passages on a Ray cluster: Ray Data ``map_batches`` over an actor pool, each actor holding one
encoder (loaded once per actor, as the local path loads it once per run).

    vectors = encode_with_ray(texts, "sentence-transformers/all-MiniLM-L6-v2", workers=2)

``address`` None starts a local Ray (``ray.init``) with ``workers`` CPUs; "auto" or "ray://host:10001"
joins a running cluster, whose nodes need semsearch installed (``pip install 'semsearch[scale]'``).
Rows come back in the input order, L2-normalised float32, the same vectors a local run computes
(the same encoder code runs in every actor). Ray is an optional extra: imported only here.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Sequence

import numpy as np

from embed.errors import EmbedError
from embed.protocols import Progress

DEFAULT_LOADER = "embed.encode.ray_pool:open_passage_encoder"


class RayUnavailable(EmbedError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot encode with Ray: {reason}")


def load_by_path(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def open_passage_encoder(model: str, precision: str = "auto"):
    """The encoder a local `semsearch index` encodes passages with (embed/encode/factory.py)."""
    from embed.encode.factory import open_encoder

    return open_encoder(model, precision).encoder


class PassageEncoder:
    """A Ray actor: holds one encoder, turns a batch {"row", "text"} into {"row", "vector"}."""

    def __init__(self, model: str, loader: str, options: dict | None = None) -> None:
        self.encoder = load_by_path(loader)(model, **(options or {}))

    def __call__(self, batch: dict) -> dict:
        texts = [str(t) for t in batch["text"]]
        vectors = self.encoder.encode_documents(texts, batch_size=len(texts))
        return {"row": batch["row"], "vector": np.asarray(vectors, dtype=np.float32)}


def start_ray(address: str | None, cpus: int) -> None:
    try:
        import ray
    except ImportError:
        raise RayUnavailable("Ray is not installed; pip install 'semsearch[scale]'") from None
    if ray.is_initialized():
        return
    options = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        if address in (None, "", "local"):
            ray.init(num_cpus=cpus, **options)
        else:
            ray.init(address=address, **options)
    except Exception as exc:  # ConnectionError, RuntimeError, ...: one line for the user
        raise RayUnavailable(f"ray.init({address or ''}) failed ({str(exc).splitlines()[0]})") from None


def encode_with_ray(
    texts: Sequence[str], model: str, *, address: str | None = None, workers: int | None = None,
    batch_size: int = 32, loader: str = DEFAULT_LOADER, options: dict | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Encode ``texts`` with ``workers`` actors (each 1 CPU); longest texts first, as the local path.
    ``loader`` ("module:function") makes an actor's encoder from ``model`` and ``options``."""
    workers = max(1, workers or os.cpu_count() or 1)
    start_ray(address, workers)
    import ray

    ray.data.DataContext.get_current().enable_progress_bars = False  # progress goes through ``progress``
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    items = [{"row": i, "text": texts[i]} for i in order]
    dataset = ray.data.from_items(items, override_num_blocks=max(1, min(len(items) // batch_size, 4 * workers)))
    encoded = dataset.map_batches(
        PassageEncoder, fn_constructor_kwargs={"model": model, "loader": loader, "options": options},
        batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1, batch_format="numpy",
    )
    rows, parts, done = [], [], 0
    for batch in encoded.iter_batches(batch_format="numpy", batch_size=None):
        rows.append(batch["row"])
        parts.append(np.asarray(batch["vector"], dtype=np.float32))
        done += len(batch["row"])
        if progress:
            progress(done, len(texts))
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    out[np.concatenate(rows)] = np.concatenate(parts)
    return out


def stop_ray() -> None:
    """Shut down the local Ray this process started (tests, one-shot CLI runs)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
