"""A BERT encoder forward pass in numpy: input ids -> token embeddings, for the lean query path.

Why: answering one question with onnxruntime costs ~0.23 s of a cold start (import 70 ms, session set-up
100 ms, a slow first run 55 ms); this pass loads memory-mapped float32 weights in ~20 ms and encodes a
question in a few ms, and needs nothing beyond numpy. It covers the plain BertModel family
(all-MiniLM-L6-v2, BGE, E5, GTE-small, ...: absolute positions, post-layer-norm, GELU/ReLU); every other
transformer keeps the ONNX export (embed/export.py decides). Agreement with sentence-transformers is
checked when the index is built, like any lean encoder (index/query_encoder.py, cosine >= 0.999).

Weights live in one float32 ``bert.npy`` (the tensors back to back); lean.json's ``tensors`` maps each
name (as in BertModel.state_dict()) to its offset and shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS_FILE = "bert.npy"
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")
LAYER_PARTS = (
    "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
    "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm",
)
EMBEDDING_PARTS = ("word_embeddings", "position_embeddings", "token_type_embeddings", "LayerNorm")


def tensor_names(layers: int) -> list[str]:
    """Every weight the forward pass reads, in file order."""
    names = [f"embeddings.{part}.weight" for part in EMBEDDING_PARTS[:3]]
    names += ["embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
    for i in range(layers):
        names += [f"encoder.layer.{i}.{part}.{kind}" for part in LAYER_PARTS for kind in ("weight", "bias")]
    return names


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, below float32's resolution near 1)."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def activate(x: np.ndarray, kind: str) -> np.ndarray:
    if kind == "gelu":
        return 0.5 * x * (1.0 + erf(x * np.float32(0.7071067811865476)))
    if kind in ("gelu_new", "gelu_pytorch_tanh"):
        return 0.5 * x * (1.0 + np.tanh(np.float32(0.7978845608028654) * (x + np.float32(0.044715) * x**3)))
    return np.maximum(x, 0)


class NumpyBert:
    """``token_embeddings(ids, mask, type_ids)`` -> (batch, seq, hidden) float32, as BertModel's last_hidden_state."""

    def __init__(self, weights: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> None:
        self.w = weights
        self.layers = int(config["layers"])
        self.heads = int(config["heads"])
        self.eps = np.float32(config["eps"])
        self.activation = str(config["activation"])

    @classmethod
    def load(cls, path: Path, config: Mapping[str, Any]) -> NumpyBert:
        """Views into the memory-mapped file: nothing is copied or parsed."""
        flat = np.load(path, mmap_mode="r", allow_pickle=False)
        weights = {}
        for name, (offset, shape) in config["tensors"].items():
            size = int(np.prod(shape))
            if flat.dtype != np.float32 or offset + size > flat.size:
                raise ValueError(f"{path.name} does not hold {name}")
            weights[name] = np.asarray(flat[offset : offset + size]).reshape(shape)  # ndarray views, not memmaps
        missing = set(tensor_names(int(config["layers"]))) - set(weights)
        if missing:
            raise ValueError(f"{path.name} lacks {sorted(missing)[0]}")
        return cls(weights, config)

    def norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = np.square(x - mean).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def linear(self, x: np.ndarray, name: str) -> np.ndarray:
        """One 2-D matrix product over all tokens (numpy's batched 3-D matmul is about half as fast here)."""
        flat = x.reshape(-1, x.shape[-1]) @ self.w[name + ".weight"].T + self.w[name + ".bias"]
        return flat.reshape(*x.shape[:-1], flat.shape[-1])

    def token_embeddings(self, ids: np.ndarray, mask: np.ndarray, type_ids: np.ndarray | None = None) -> np.ndarray:
        batch, length = ids.shape
        types = np.zeros_like(ids) if type_ids is None else type_ids
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length][None]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = self.norm(x.astype(np.float32), "embeddings.LayerNorm")
        bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        for i in range(self.layers):
            x = self.layer(x, bias, f"encoder.layer.{i}.")
        return x

    def layer(self, x: np.ndarray, bias: np.ndarray, prefix: str) -> np.ndarray:
        batch, length, hidden = x.shape
        heads, size = self.heads, hidden // self.heads

        def split(name: str) -> np.ndarray:
            return self.linear(x, prefix + name).reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

        q, k, v = split("attention.self.query"), split("attention.self.key"), split("attention.self.value")
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        attended = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        x = self.norm(self.linear(attended, prefix + "attention.output.dense") + x, prefix + "attention.output.LayerNorm")
        inner = activate(self.linear(x, prefix + "intermediate.dense"), self.activation)
        return self.norm(self.linear(inner, prefix + "output.dense") + x, prefix + "output.LayerNorm")
