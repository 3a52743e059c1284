"""Encoding passages on the OpenVINO runtime: the model's derived IR (embed/encode/derived.py), tokenised by
its own ``tokenizers`` file, pooled and normalised in numpy (embed/lean/encoder.py), no torch.

Batches are sorted by length (less padding) and run as as many infer requests at once as OpenVINO finds
best for the CPU (its THROUGHPUT hint: one stream per core here), each from a worker thread (infer()
releases the GIL), so both cores stay busy while the next batch is tokenised. (OpenVINO's own
AsyncInferQueue with a Python callback aborted the process at exit now and then.) Precision: "auto" leaves the choice to OpenVINO, which runs bfloat16 on
CPUs with AMX or AVX-512 BF16 and float32 elsewhere; "fp32" / "bf16" force one.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embed.lean.encoder import TransformerLean, normalise, pool, read_settings
from embed.protocols import Progress

OPENVINO_DIR = "openvino"
HINTS = {"fp32": "f32", "bf16": "bf16"}
_CORE: Any = None
_CORE_LOCK = threading.Lock()


def core() -> Any:
    """One OpenVINO Core per process (creating it reads the plugins once)."""
    global _CORE
    with _CORE_LOCK:
        if _CORE is None:
            import openvino

            _CORE = openvino.Core()
        return _CORE


class OpenVINOEncoder(TransformerLean):
    """The Encoder protocol for documents (and questions) on a compiled OpenVINO model."""

    def __init__(self, directory: Path, settings: dict[str, Any], tokenizer: Any, compiled: Any) -> None:
        super().__init__(directory, settings, tokenizer)
        self.compiled = compiled
        self.input_names = [port.any_name for port in compiled.inputs]
        hint = str(compiled.get_property("INFERENCE_PRECISION_HINT")).lower()
        self.precision = "bf16" if "bf16" in hint or "bfloat16" in hint else "fp32"
        self.requests = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.compiled({name: feeds[name] for name in self.input_names})[0]

    def _encode(self, texts: Sequence[str], prompt: str, batch_size: int, progress: Progress | None) -> np.ndarray:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        texts = [prompt + text for text in texts]
        total = len(texts)
        out = np.zeros((total, self.dimension), dtype=np.float32)
        order = sorted(range(total), key=lambda i: -len(texts[i]))
        batches = [order[start : start + batch_size] for start in range(0, total, batch_size)]
        idle: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(self.requests):
            idle.put(self.compiled.create_infer_request())

        def embed(rows: list[int]) -> tuple[list[int], np.ndarray]:
            feeds = self.feeds([texts[i] for i in rows])
            mask = feeds["attention_mask"]
            if prompt and not self.include_prompt:
                mask = mask.copy()
                mask[:, : self.prompt_length(prompt)] = 0
            request = idle.get()
            try:  # infer() releases the GIL: the other request runs on the other core meanwhile
                tokens = request.infer({name: feeds[name] for name in self.input_names})[0]
                return rows, normalise(pool(np.asarray(tokens, dtype=np.float32), mask, self.pooling))
            finally:
                idle.put(request)

        done = 0
        with ThreadPoolExecutor(max_workers=self.requests) as workers:
            for rows, vectors in workers.map(embed, batches):
                out[rows] = vectors
                done += len(rows)
                if progress is not None:
                    progress(done, total)
        return out


def load_openvino(directory: str | Path, precision: str = "auto") -> OpenVINOEncoder:
    """The OpenVINO encoder of a derived model folder; ``precision``: auto | fp32 | bf16."""
    from tokenizers import Tokenizer

    directory = Path(directory)
    settings = read_settings(directory)
    config: dict[str, Any] = {"PERFORMANCE_HINT": "THROUGHPUT", "CACHE_DIR": str(directory / OPENVINO_DIR / "cache")}
    if precision in HINTS:
        config["INFERENCE_PRECISION_HINT"] = HINTS[precision]
    compiled = core().compile_model(str(directory / OPENVINO_DIR / "model.xml"), "CPU", config)
    return OpenVINOEncoder(directory, settings, Tokenizer.from_file(str(directory / "tokenizer.json")), compiled)
