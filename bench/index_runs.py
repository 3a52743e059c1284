"""Wall time of `semsearch index` on a small folder: first build, re-run with nothing changed, one file changed.

    python -m bench.index_runs [--corpus seeds] [--runs 3] [--export-runs 1]

Each run is the real `semsearch` console script in a fresh process, on a copy of ``--corpus`` in a
temporary folder (the checkout is never touched). Rows, median of ``--runs`` (min and max beside):

  (a0) first build with an empty SEMSEARCH_CACHE: includes the one-time export of the model's derived
       files (lean query encoder + OpenVINO IR, embed/encode/derived.py), ``--export-runs`` times;
  (a)  first build of a new index, the derived files already in the user cache;
  (b)  the same command again, nothing changed;
  (c)  one file changed (a sentence appended), the command again.

(a), (b), (c) run in rounds (a, b, c, a, b, c, ...) so that a noisy minute hurts all three alike. Then one
more (b) and (c) run each through a runner that lists which of torch, transformers, sentence_transformers
the process imported: the proof that an index run that changes nothing or a little loads none of them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "sentence_transformers", "onnxruntime", "openvino")
GOALS = {"b": 1.0, "c": 2.0}
RUNNER = """
import json, runpy, sys
sys.argv = ["semsearch", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("index.cli.quick", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps([code, sorted(m for m in %r if m in sys.modules)]), file=sys.stderr)
""" % (HEAVY,)
ROWS = {
    "a0": "first build, empty SEMSEARCH_CACHE (one-time export)",
    "a": "first build, derived files in the cache",
    "b": "re-run, nothing changed",
    "c": "re-run, one file changed",
}


def semsearch() -> list[str]:
    script = Path(sys.executable).parent / "semsearch"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "index.cli.quick"]


def run(command: list[str], env: dict, cwd: Path) -> tuple[float, dict, str]:
    """(wall seconds, the --json report, stderr) of one `semsearch index` process."""
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds, json.loads(proc.stdout), proc.stderr


def change_one_file(corpus: Path, round_no: int) -> None:
    first = sorted(p for p in corpus.rglob("*") if p.is_file())[0]
    with first.open("a", encoding="utf-8") as handle:
        handle.write(f"\n\nA note added in round {round_no}: the measurements were repeated on a quiet afternoon.\n")


def heavy_modules(args: list[str], env: dict, cwd: Path) -> tuple[dict, list[str]]:
    proc = subprocess.run([sys.executable, "-c", RUNNER, *args], env=env, cwd=cwd, capture_output=True, text=True)
    code, heavy = json.loads(proc.stderr.strip().splitlines()[-1])
    if code not in (0, None):
        raise SystemExit(f"runner failed ({code}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout), heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO / "seeds")
    parser.add_argument("--runs", type=int, default=3, help="rounds of (a), (b), (c)")
    parser.add_argument("--export-runs", type=int, default=1, help="(a0) runs, each with an empty cache; 0: skip")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as for an installed package
    times: dict[str, list[float]] = {row: [] for row in ROWS}
    work = Path(tempfile.mkdtemp(prefix="semsearch-index-runs-"))
    try:
        corpus = work / "corpus"
        shutil.copytree(args.corpus, corpus)
        index_args = ["index", str(corpus), "--index", str(work / "idx"), "--json"]
        for i in range(args.export_runs):
            cache = work / f"cache{i}"
            seconds, report, _ = run([*semsearch(), *index_args[:3], str(work / f"idx-export{i}"), "--json"],
                                     {**env, "SEMSEARCH_CACHE": str(cache)}, work)
            times["a0"].append(seconds)
            shutil.rmtree(cache, ignore_errors=True)
        run([*semsearch(), *index_args], env, work)  # untimed: page cache and bytecode warm, derived files made
        for i in range(args.runs):
            shutil.rmtree(work / "idx")
            seconds, first, _ = run([*semsearch(), *index_args], env, work)
            times["a"].append(seconds)
            seconds, again, _ = run([*semsearch(), *index_args], env, work)
            assert again["encoded"] == 0, again
            times["b"].append(seconds)
            change_one_file(corpus, i)
            seconds, changed, _ = run([*semsearch(), *index_args], env, work)
            assert changed["encoded"] > 0, changed
            times["c"].append(seconds)
        print(f"semsearch index {args.corpus.name}/ ({first['documents']} files, {first['passages']} passages); "
              f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"  {'':5s} {'':52s} {'median':>7s} {'min':>7s} {'max':>7s}  runs  goal")
        for row, label in ROWS.items():
            if times[row]:
                goal = f"<= {GOALS[row]:.1f} s {'met' if statistics.median(times[row]) <= GOALS[row] else 'NOT met'}" \
                    if row in GOALS else ""
                print(f"  {'(' + row + ')':5s} {label:52s} {statistics.median(times[row]):6.2f}s {min(times[row]):6.2f}s "
                      f"{max(times[row]):6.2f}s  {len(times[row]):4d}  {goal}")
        unchanged, heavy_b = heavy_modules(index_args, env, work)
        change_one_file(corpus, args.runs)
        changed, heavy_c = heavy_modules(index_args, env, work)
        print(f"  heavy modules imported (of {', '.join(HEAVY)}):")
        print(f"    (b) nothing changed   (encoded {unchanged['encoded']}): {heavy_b or 'none'}")
        print(f"    (c) one file changed  (encoded {changed['encoded']}): {heavy_c or 'none'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
