"""Passages/s on real passages: SciFact abstracts chunked as `semsearch index` chunks them (mixed lengths).

    python -m bench.encode_real [--passages 1500] [--rounds 3]

The same variants and interleaved rounds as section 3 of bench/speed.py (default fp32
``SentenceTransformer.encode`` against semsearch bf16, bf16 one batch at a time, semsearch fp32, bf16
autocast for reference), but on what indexing really sees instead of texts of one exact length.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.encode_speed import EXTRA_ROUNDS, against_baseline, encoders_to_compare, time_rounds
from bench.shared import MODEL, SCIFACT
from bench.tune_speed import passages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from embed.encode.sentence_transformers import load_encoder

    encoder = load_encoder(MODEL)
    texts = passages(SCIFACT, args.passages, encoder)
    lengths = encoder.counter.count(texts)
    print(f"{len(texts)} SciFact passages, tokens mean {np.mean(lengths):.0f}, max {max(lengths)}; "
          f"{args.rounds} interleaved rounds (reference rows {EXTRA_ROUNDS})")
    for r, best, median, cos in against_baseline(time_rounds(encoders_to_compare(encoder, {}), texts, 0, args.rounds)):
        print(f"  {r.name:36s} best {r.best:6.1f}/s  median {r.median:6.1f}/s   x fp32 {best:4.2f} "
              f"(best) {median:4.2f} (median)   min cos to fp32 {cos:.5f}")


if __name__ == "__main__":
    main()
