"""Every speed figure of semsearch in one run: ``python -m bench [--sizes 10000,100000,1000000]``.

1. bench/speed.py: cold `semsearch ask` (lean paths against sentence-transformers, with the ratio) and
   agreement of the lean query encoders with sentence-transformers.
2. bench/encode_engines.py: passages/s of the OpenVINO engine against float32 sentence-transformers and the
   old bf16 kernel path, on real SciFact passages, with the cosine to float32.
3. bench/ann.py: warm query p50/p99, recall@10 against exact search, build time and resident memory
   (also per million passages) for every index type at 10k / 100k / 1M passages.
Each part runs in its own process, one after the other, so neither's memory or threads touch the other.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="passages per bench/ann.py row group")
    args = parser.parse_args()
    started = time.time()
    parts = [["-m", "bench.speed"], ["-m", "bench.encode_engines"], ["-m", "bench.ann", "--sizes", args.sizes]]
    for part in parts:
        print(f"\n######## python {' '.join(part)}", flush=True)
        code = subprocess.call([sys.executable, *part], env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if code:
            sys.exit(code)
    print(f"\nall parts done in {(time.time() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
