"""Page faults and passages/s of semsearch bf16 encoding with and without embed/allocator.py.

    python -m bench.allocator_ab [--passages 600] [--pairs 3]

Each measurement is a fresh process (malloc's settings are per process): it encodes the first N SciFact
passages as `semsearch index` chunks them, twice after a warm-up, and reports passages/s and the minor page
faults of each pass. Processes alternate between the default (freed memory kept while encoding) and
SEMSEARCH_KEEP_FREED_MEMORY=0 (glibc's own behaviour), so that a slow spell falls on both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from embed.allocator import OPT_OUT

MODES = {"kept (default)": "1", "glibc defaults": "0"}


def measure(count: int) -> list[tuple[float, int]]:
    """(passages/s, page faults) of two bf16 passes over ``count`` SciFact passages, in this process."""
    from bench.shared import MODEL, SCIFACT
    from bench.tune_speed import passages
    from embed.encoders import load_encoder
    from embed.export import precision_context

    encoder = load_encoder(MODEL)
    texts = passages(SCIFACT, count, encoder)
    passes = []
    with precision_context(encoder, "bf16"):
        encoder.encode_documents(texts[:64])
        for _ in range(2):
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            started = time.perf_counter()
            encoder.encode_documents(texts)
            seconds = time.perf_counter() - started
            passes.append((len(texts) / seconds, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults))
    return passes


def run_child(setting: str, count: int) -> list[tuple[float, int]]:
    env = {**os.environ, OPT_OUT: setting}
    command = [sys.executable, "-m", "bench.allocator_ab", "--child", "--passages", str(count)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return [tuple(row) for row in json.loads(done.stdout.strip().splitlines()[-1])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=600)
    parser.add_argument("--pairs", type=int, default=3, help="processes per setting, alternating")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.passages)))
        return
    results: dict[str, list[tuple[float, int]]] = {mode: [] for mode in MODES}
    for _ in range(args.pairs):
        for mode, setting in MODES.items():
            results[mode] += run_child(setting, args.passages)
    print(f"bf16 encoding of {args.passages} SciFact passages; {args.pairs} processes per setting, 2 passes each")
    for mode, passes in results.items():
        rates = [rate for rate, _ in passes]
        faults = statistics.median(f for _, f in passes)
        print(f"  {mode:16s} median {statistics.median(rates):6.1f} passages/s (best {max(rates):6.1f})   "
              f"page faults per pass {faults:9.0f}   passes: {' '.join(f'{r:.0f}' for r in rates)}")


if __name__ == "__main__":
    main()
