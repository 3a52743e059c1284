"""Benchmark vectors for bench/ann.py: real all-MiniLM-L6-v2 embeddings of SciFact sentences, grown to any
size by noisy copies (noise drawn from the data's own covariance, so the set keeps its low-rank structure).

Embeddings are cached under $SEMSEARCH_BENCH_CACHE (default ~/.cache/semsearch/bench); the first run
encodes ~50k sentences on the CPU (a few minutes), later runs load the cache.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from bench.shared import MODEL, SCIFACT

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")
MIN_CHARS = 40


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "semsearch" / "bench"
    path = Path(os.environ.get("SEMSEARCH_BENCH_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def scifact_sentences() -> list[str]:
    """Titles and sentences (short fragments glued to the next one) of every SciFact abstract."""
    out: list[str] = []
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            out.append(row["title"])
            pending = ""
            for sentence in SENTENCE_END.split(row["text"]):
                pending = f"{pending} {sentence}".strip()
                if len(pending) >= MIN_CHARS:
                    out.append(pending)
                    pending = ""
            if pending:
                out.append(pending)
    return out


def scifact_queries() -> list[str]:
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def real_embeddings() -> tuple[np.ndarray, np.ndarray]:
    """(passage vectors, query vectors), float32 L2-normalised, cached after the first run."""
    base_path, query_path = cache_dir() / "scifact_sentences.npy", cache_dir() / "scifact_queries.npy"
    if not (base_path.exists() and query_path.exists()):
        from embed.encode.sentence_transformers import load_encoder

        encoder = load_encoder(MODEL)
        queries = encoder.encode_queries(scifact_queries(), batch_size=64)
        base = encoder.encode_documents(scifact_sentences(), batch_size=64)
        np.save(query_path, np.asarray(queries, dtype=np.float32))
        np.save(base_path, np.asarray(base, dtype=np.float32))
    return np.load(base_path), np.load(query_path)


def grow(base: np.ndarray, n: int, noise: float = 0.5, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors: the real ones first, then noisy copies x + noise * (y - z) of real rows (y, z
    random real rows, so the noise follows the data's covariance), re-normalised."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    head = min(n, len(base))
    out[:head] = base[:head]
    step = 65536
    for start in range(head, n, step):
        stop = min(n, start + step)
        size = stop - start
        picks = rng.integers(0, len(base), size=(3, size))
        block = base[picks[0]] + noise * (base[picks[1]] - base[picks[2]])
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out
