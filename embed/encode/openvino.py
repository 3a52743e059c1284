"""Encoding passages on the OpenVINO runtime: the model's derived IR (embed/encode/derived.py), tokenised by
its own ``tokenizers`` file, pooled and normalised in numpy (embed/lean/encoder.py), no torch.

Batches are sorted by length (less padding) and run as as many infer requests at once as OpenVINO finds
best for the CPU (its THROUGHPUT hint: one stream per core here), each from a worker thread (infer()
releases the GIL), so both cores stay busy while the next batch is tokenised. (OpenVINO's own
AsyncInferQueue with a Python callback aborted the process at exit now and then.) Precision: "auto" leaves the choice to OpenVINO, which runs bfloat16 on
CPUs with AMX or AVX-512 BF16 and float32 elsewhere; "fp32" / "bf16" force one.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from embed.lean.encoder import TransformerLean, read_settings

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
        self._local = threading.local()

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Token embeddings on this thread's own infer request (each worker thread keeps one)."""
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request.infer({name: feeds[name] for name in self.input_names})[0]

    def map_batches(self, embed: Any, batches: list[list[int]]) -> Any:
        if self.requests == 1:  # one request (a question encoder): no thread to hand each batch to
            yield from map(embed, batches)
            return
        # infer() releases the GIL: while one worker's request runs on one core, the other's runs on the
        # other core or its batch is tokenised
        with ThreadPoolExecutor(max_workers=self.requests) as workers:
            yield from workers.map(embed, batches)


def load_openvino(
    directory: str | Path, precision: str = "auto", *, cached: bool = True, questions: bool = False
) -> OpenVINOEncoder:
    """The OpenVINO encoder of a derived model folder; ``precision``: auto | fp32 | bf16.

    ``cached``: keep the compiled model in the folder's cache/ (a later compile reads it: ~0.4 s saved on
    every index run); the one-off float32 check at export time leaves no blob behind.
    ``questions``: set up for one short text at a time in a long-running process (a server): the LATENCY
    hint on one thread (a busy second core cannot stall it) and the quick Python WordPiece."""
    from embed.lean.encoder import load_tokenizer

    directory = Path(directory)
    settings = read_settings(directory)
    config: dict[str, Any] = {"PERFORMANCE_HINT": "THROUGHPUT"}
    if questions:
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1}
    if cached:
        config["CACHE_DIR"] = str(directory / OPENVINO_DIR / "cache")
    if precision in HINTS:
        config["INFERENCE_PRECISION_HINT"] = HINTS[precision]
    compiled = core().compile_model(str(directory / OPENVINO_DIR / "model.xml"), "CPU", config)
    return OpenVINOEncoder(directory, settings, load_tokenizer(directory, quick=questions), compiled)
