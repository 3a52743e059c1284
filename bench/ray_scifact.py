"""`semsearch index --ray` on the whole of SciFact, through the CLI, against a local run of the same command.

    python -m bench.ray_scifact [--workdir /tmp/semsearch-ray] [--workers 1,2]

Each run is a fresh `semsearch index <SciFact corpus.jsonl>` process with all-MiniLM-L6-v2 (set
HF_HUB_OFFLINE=1 where the hub is out of reach): first a local run (the default FAISS + SQLite store,
passages encoded in-process), then one run per worker count with `--store milvus:<file> --ray local
--ray-workers N` (a local Ray started by the command: Ray Data actor pool, one CPU per actor, each actor
holding the same encoder). Printed per run: passages, vectors, wall seconds, passages/s (wall, so Ray's
start-up and the actors' model loading count), and for Ray runs the vector count against the local run's and
the minimum / mean cosine of each passage's vector to the local one (matched by passage id).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.shared import MODEL, SCIFACT  # noqa: E402


def run_index(index_dir: Path, *extra: str) -> dict:
    shutil.rmtree(index_dir, ignore_errors=True)
    command = [sys.executable, "-m", "index.cli.quick", "index", str(SCIFACT / "corpus.jsonl"), "--index",
               str(index_dir), "--model", MODEL, "--json", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout), "wall": wall}


def vectors_by_id(directory: Path) -> dict[str, np.ndarray]:
    from index.search.reader import open_reader

    reader = open_reader(directory)
    try:
        vectors, pks = reader.vectors()
        found = reader.store.passages_by_pk(int(p) for p in pks)
        return {found[int(p)].passage.id: np.asarray(v, dtype=np.float32) for p, v in zip(pks, vectors)}
    finally:
        reader.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="/tmp/semsearch-ray")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    rows = [("local (FAISS + SQLite, in-process encoder)", run_index(work / "local"), work / "local")]
    print(f"local: {rows[0][1]['vectors']} vectors in {rows[0][1]['wall']:.1f} s", flush=True)
    for workers in [int(w) for w in args.workers.split(",")]:
        target = work / f"ray{workers}"
        for leftover in work.glob(f"ray{workers}.db*"):
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
        result = run_index(target, "--store", f"milvus:{work / f'ray{workers}.db'}", "--ray", "local",
                           "--ray-workers", str(workers))
        rows.append((f"--ray local --ray-workers {workers} (Milvus Lite)", result, target))
        print(f"ray {workers}: {result['vectors']} vectors in {result['wall']:.1f} s", flush=True)
    local = vectors_by_id(rows[0][2])
    print("\n| run | passages | vectors | wall s | passages/s | same ids as local | min cos | mean cos |")
    print("|---|---|---|---|---|---|---|---|")
    for name, result, directory in rows:
        theirs = vectors_by_id(directory)
        same = sorted(theirs) == sorted(local)
        cos = [float(np.dot(local[i], theirs[i])) for i in local if i in theirs]
        print(f"| {name} | {result['passages']} | {result['vectors']} | {result['wall']:.1f} | "
              f"{result['encoded'] / result['wall']:.1f} | {same} | {min(cos):.6f} | {np.mean(cos):.6f} |")
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
