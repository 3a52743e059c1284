"""Section 3 of bench/speed.py: passages/s of the ways to encode passages, and their agreement with fp32.

Texts of exactly 128 / 256 tokens (SQuAD paragraph pairs cut at a token end), encoded by the default fp32
``SentenceTransformer.encode`` (the baseline), bf16 weights (what `semsearch index --precision bf16`
does), bf16 autocast and onnxruntime fp32 / int8; best of two timed passes after a warm-up batch.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np


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


def passages_per_second(encode, texts: list[str], repeats: int = 2) -> tuple[float, np.ndarray]:
    """Best of ``repeats`` timed passes (after one warm-up batch): other load on the machine only slows."""
    encode(texts[:32])
    best, vectors = 0.0, None
    for _ in range(repeats):
        started = time.perf_counter()
        vectors = encode(texts)
        best = max(best, len(texts) / (time.perf_counter() - started))
    return best, unit(vectors)


def encoders_to_compare(encoder, lean_dirs: dict[str, Path]) -> dict:
    import torch

    from embed.export import precision_context
    from embed.lean import load_lean

    model = encoder.model

    def bf16(texts):
        with precision_context(encoder, "bf16"):
            return encoder.encode_documents(texts)

    def autocast(texts):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return encoder.encode_documents(texts)

    variants = {
        "fp32 SentenceTransformer.encode": lambda t: model.encode(t, batch_size=32),
        "bf16 weights (--precision bf16)": bf16,
        "bf16 torch.autocast (not used)": autocast,
    }
    for name, directory in lean_dirs.items():
        lean = load_lean(directory, threads=os.cpu_count())
        variants[f"onnxruntime {name}"] = lambda t, lean=lean: lean.encode_documents(t)
    return variants


def throughput(encoder, lean_dirs, paragraphs, count: int) -> list[tuple[int, str, float, float, float]]:
    """(tokens, variant, passages/s, ratio to fp32, min cosine to fp32) rows."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(lean_dirs["fp32"] / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    variants = encoders_to_compare(encoder, lean_dirs)
    rows = []
    for tokens in (128, 256):
        texts = exact_token_texts(tokenizer, paragraphs, tokens, count)
        base_rate, base = passages_per_second(variants["fp32 SentenceTransformer.encode"], texts)
        for name, encode in variants.items():
            rate, vectors = (base_rate, base) if name.startswith("fp32 ") else passages_per_second(encode, texts)
            rows.append((tokens, name, rate, rate / base_rate, float(np.min(np.sum(vectors * base, axis=1)))))
    return rows


def bf16_ranking(encoder, lean, paragraphs, questions) -> float:
    """Top-10 overlap when passages are bf16 and questions fp32 (as semsearch does) vs all fp32."""
    from embed.export import precision_context

    passages = [text for _, text in paragraphs]
    queries = lean.encode_queries(questions)
    full = encoder.encode_documents(passages)
    with precision_context(encoder, "bf16"):
        half = encoder.encode_documents(passages)
    return topk_overlap(queries, full, queries, half)
