"""Section 3 of bench/speed.py: passages/s of the ways to encode passages, and their agreement with fp32.

Texts of exactly 128 / 256 tokens (SQuAD paragraph pairs cut at a token end), encoded by the default fp32
``SentenceTransformer.encode`` (the baseline), by semsearch in bf16 (what `semsearch index` does on a CPU
with bf16 instructions: bf16 weights, fused oneDNN linears from embed/onednn.py, the AMX attention kernel
from embed/attention.py, one-pass add + LayerNorm from embed/addnorm.py, one batch per core from
embed/parallel.py), by the same one batch at a time, by semsearch in fp32, by bf16 without each of the three
kernels (what each adds), and for reference bf16 autocast and onnxruntime fp32 / int8. Timed passes are
interleaved round by round; best and median per variant are reported.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BASELINE = "fp32 SentenceTransformer.encode"
SEMSEARCH = "bf16 semsearch (--precision bf16)"
UNFUSED = "bf16 without fused linears"
TORCH_ATTENTION = "bf16 without AMX attention"
TORCH_ADD_NORM = "bf16 without fused add+LayerNorm"
WITHOUT = {UNFUSED: "fuse", TORCH_ATTENTION: "attention", TORCH_ADD_NORM: "add_norm"}  # kernel left out
CORE = (BASELINE, SEMSEARCH, "bf16, one batch at a time", "fp32, a batch per core", *WITHOUT)
ROUNDS, EXTRA_ROUNDS = 5, 2


def topk_overlap(q_a, d_a, q_b, d_b, k: int = 10) -> float:
    top_a = np.argsort(-(q_a @ d_a.T), axis=1)[:, :k]
    top_b = np.argsort(-(q_b @ d_b.T), axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(top_a, top_b)]))


def exact_token_texts(tokenizer, paragraphs, tokens: int, count: int) -> list[str]:
    """``count`` texts of exactly ``tokens`` tokens with [CLS]/[SEP] (paragraph pairs, cut at a token end)."""
    texts = []
    for (_, first), (_, second) in zip(paragraphs, paragraphs[1:]):
        text = f"{first} {second}"
        offsets = tokenizer.encode(text, add_special_tokens=False).offsets
        if len(offsets) >= tokens - 2:
            texts.append(text[: offsets[tokens - 3][1]])
        if len(texts) == count:
            break
    return texts


def unit(rows) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@dataclass(frozen=True)
class Rate:
    """One variant at one length: passages/s per timed pass, and its rows from the last pass."""

    tokens: int
    name: str
    rates: tuple[float, ...]
    vectors: np.ndarray

    @property
    def best(self) -> float:
        return max(self.rates)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def against_baseline(rates: list[Rate]) -> list[tuple[Rate, float, float, float]]:
    """(rate, best / baseline best, median / baseline median, min cosine to the baseline's rows) per
    rate, the baseline being the BASELINE rate of the same length."""
    base = {r.tokens: r for r in rates if r.name == BASELINE}
    rows = []
    for r in rates:
        b = base[r.tokens]
        rows.append((r, r.best / b.best, r.median / b.median, float(np.min(np.sum(r.vectors * b.vectors, axis=1)))))
    return rows


def encoders_to_compare(encoder, lean_dirs: dict[str, Path]) -> dict:
    """name -> encode(texts); the first is the baseline, the CORE ones are timed in every round."""
    import torch

    from embed.encode.sentence_transformers import SentenceTransformerEncoder
    from embed.lean.export import precision_context
    from embed.lean.encoder import load_lean

    model = encoder.model
    one_at_a_time = SentenceTransformerEncoder(model, encoder.model_id, workers=1)

    def bf16(texts, encoder=encoder, **switches):
        with precision_context(encoder, "bf16", **switches):
            return encoder.encode_documents(texts)

    def autocast(texts):  # autocast is per thread: one batch at a time, in this thread
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return one_at_a_time.encode_documents(texts)

    variants = {
        BASELINE: lambda t: model.encode(t, batch_size=32),
        SEMSEARCH: bf16,
        "bf16, one batch at a time": lambda t: bf16(t, one_at_a_time),
        "fp32, a batch per core": encoder.encode_documents,
        **{name: (lambda t, switch=switch: bf16(t, **{switch: False})) for name, switch in WITHOUT.items()},
        "bf16 torch.autocast (not used)": autocast,
    }
    for name, directory in lean_dirs.items():
        lean = load_lean(directory, threads=os.cpu_count())
        variants[f"onnxruntime {name}"] = lambda t, lean=lean: lean.encode_documents(t)
    return variants


def throughput(encoder, lean_dirs, paragraphs, count: int, rounds: int = ROUNDS) -> list[Rate]:
    """Passages/s of every variant at 128 and 256 tokens, timed in interleaved rounds.

    Each round times every CORE variant once, one after the other, so that a slow spell on the machine
    falls on all of them alike; the others (for reference only) are timed in the first EXTRA_ROUNDS rounds.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(lean_dirs["fp32"] / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    variants = encoders_to_compare(encoder, lean_dirs)
    results = []
    for tokens in (128, 256):
        results += time_rounds(variants, exact_token_texts(tokenizer, paragraphs, tokens, count), tokens, rounds)
    return results


def time_rounds(variants: dict, texts: list[str], tokens: int, rounds: int = ROUNDS) -> list[Rate]:
    """One Rate per variant: CORE variants timed once per round in turn, the others in the first EXTRA_ROUNDS."""
    rates: dict[str, list[float]] = {name: [] for name in variants}
    vectors = {name: encode(texts[:64]) for name, encode in variants.items()}  # warm-up
    for round_ in range(rounds):
        for name, encode in variants.items():
            if name in CORE or round_ < EXTRA_ROUNDS:
                started = time.perf_counter()
                vectors[name] = encode(texts)
                rates[name].append(len(texts) / (time.perf_counter() - started))
    return [Rate(tokens, name, tuple(rates[name]), unit(vectors[name])) for name in variants]


def bf16_ranking(encoder, lean, paragraphs, questions) -> float:
    """Top-10 overlap when passages are bf16 and questions fp32 (as semsearch does) vs all fp32."""
    from embed.lean.export import precision_context

    passages = [text for _, text in paragraphs]
    queries = lean.encode_queries(questions)
    full = encoder.encode_documents(passages)
    with precision_context(encoder, "bf16"):
        half = encoder.encode_documents(passages)
    return topk_overlap(queries, full, queries, half)
