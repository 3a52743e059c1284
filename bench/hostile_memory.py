"""Peak memory and wall time of `semsearch index` on one giant single-line file vs ordinary prose.

    flock /tmp/team/cpu.lock python bench/hostile_memory.py [--size-mb 30] [--rounds 1] [--model tiny|real|PATH]

Both inputs hold the same words (SQuAD v1.1 dev contexts, repeated with a part number so no two
paragraphs are equal and nothing is skipped as a duplicate): "prose" keeps the paragraphs (blank lines
between them), "single line" is the same text with every newline and sentence end (. ! ?) removed,
the case that once tokenized one unit per word (9.4 GB for 30 MB). Each run is a fresh
`python -m index.cli.app index FILE --index TMP --model M` process started by /usr/bin/time, whose
maximum resident set size ("%M") is the run's peak RSS (not os.wait4 from this script: Linux carries a
parent's peak RSS over fork + exec into the child's ru_maxrss); wall time from the clock. Rounds
alternate the two inputs.
--model tiny (default): a 2-layer BERT (hidden 32, 128 tokens, the real MiniLM WordPiece tokenizer)
built by tests/modelkit.py, so the run measures reading, chunking, storage and encoding bookkeeping
rather than the model's arithmetic; --model real: sentence-transformers/all-MiniLM-L6-v2 (offline).
Goal (issue 14): single line peak RSS <= 1 GB and s/MB like prose. Last, once: a .jsonl file whose one
record holds a --jsonl-mb MB text (5 MB once peaked at 2.06 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared/datasets/squad_v1.1/dev-v1.1.json"
REAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TIME = "/usr/bin/time"  # GNU time (Debian package "time")


def squad_contexts() -> list[str]:
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    return [p["context"] for article in data["data"] for p in article["paragraphs"]]


def write_inputs(folder: Path, size_mb: float) -> tuple[Path, Path]:
    """(prose.txt, line.txt) of about ``size_mb`` MB each, from the same words."""
    contexts = squad_contexts()
    target = int(size_mb * 1_000_000)
    paragraphs: list[str] = []
    total, part = 0, 0
    while total < target:
        part += 1
        for i, context in enumerate(contexts):
            paragraph = f"Part {part}, paragraph {i}. {' '.join(context.split())}"
            paragraphs.append(paragraph)
            total += len(paragraph.encode()) + 2
            if total >= target:
                break
    prose = folder / "prose" / "prose.txt"
    line = folder / "line" / "line.txt"
    prose.parent.mkdir(parents=True)
    line.parent.mkdir(parents=True)
    prose.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    line.write_text(re.sub(r"[.!?]", "", " ".join(paragraphs)), encoding="utf-8")  # one line, no sentence end
    return prose, line


def model_arg(choice: str, folder: Path) -> tuple[str, dict[str, str]]:
    if choice == "tiny":
        sys.path.insert(0, str(ROOT))
        from tests.modelkit import build_tiny_bert

        return str(build_tiny_bert(folder / "tiny-bert", max_seq_length=128)), {}
    if choice == "real":
        return REAL_MODEL, {"HF_HUB_OFFLINE": "1"}
    return choice, {}


def run_index(path: Path, index_dir: Path, model: str, env_extra: dict[str, str]) -> dict:
    """One fresh `semsearch index` process: wall seconds, peak RSS (MB), passages, exit status."""
    env = {**os.environ, **env_extra, "PYTHONPATH": str(ROOT)}
    usage = index_dir.parent / f"{index_dir.name}.time"
    command = [TIME, "-f", "%M", "-o", str(usage), sys.executable, "-m", "index.cli.app", "index", str(path),
               "--index", str(index_dir), "--model", model, "--json"]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    wall = time.perf_counter() - started
    try:
        passages = json.loads(proc.stdout)["passages"]
    except (ValueError, KeyError):
        passages = None
    rss_kb = int(usage.read_text().split()[-1])  # "%M": the child's maximum resident set size in KB
    return {"wall": wall, "rss_mb": rss_kb / 1024, "passages": passages, "rc": proc.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--model", default="tiny", help="tiny | real | a model path or hub id")
    parser.add_argument("--jsonl-mb", type=float, default=5.0, help="size of the one-record .jsonl (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        folder = Path(tmp)
        prose, line = write_inputs(folder, args.size_mb)
        model, env_extra = model_arg(args.model, folder)
        sizes = {"prose": prose.stat().st_size / 1e6, "single line": line.stat().st_size / 1e6}
        print(f"model: {model if args.model != 'tiny' else 'tiny BERT (2 layers, hidden 32, 128 tokens) ' + model}")
        print(f"inputs: prose {sizes['prose']:.1f} MB ({prose.read_text().count(chr(10)) + 1} lines), "
              f"single line {sizes['single line']:.1f} MB (1 line, no sentence end)")
        warm = folder / "warm" / "warm.txt"
        warm.parent.mkdir()
        warm.write_text("A short warm-up document. It builds the model's derived files once.\n", encoding="utf-8")
        first = run_index(warm, folder / "idx-warm", model, env_extra)  # one-time model export, not measured
        print(f"warm-up (one-time model files, not counted): wall {first['wall']:.1f} s, rc {first['rc']}")
        base = run_index(warm, folder / "idx-base", model, env_extra)
        print(f"baseline: the same one-line file again (process + model, no text to speak of): wall "
              f"{base['wall']:.1f} s, peak RSS {base['rss_mb']:.0f} MB", flush=True)
        rows: dict[str, list[dict]] = {"prose": [], "single line": []}
        for round_ in range(args.rounds):
            for name, path in (("prose", prose), ("single line", line)):
                result = run_index(path, folder / f"idx-{name.replace(' ', '-')}-{round_}", model, env_extra)
                rows[name].append(result)
                print(f"round {round_ + 1} {name:<12} rc {result['rc']}  wall {result['wall']:7.1f} s  "
                      f"peak RSS {result['rss_mb']:7.0f} MB  passages {result['passages']}", flush=True)
        print(f"\n{'input':<12} {'MB':>6} {'passages':>9} {'wall s (best)':>14} {'s/MB':>6} {'peak RSS MB (max)':>18}")
        for name, results in rows.items():
            best = min(r["wall"] for r in results)
            print(f"{name:<12} {sizes[name]:6.1f} {str(results[0]['passages']):>9} {best:14.1f} "
                  f"{best / sizes[name]:6.2f} {max(r['rss_mb'] for r in results):18.0f}")
        if args.jsonl_mb:
            record = folder / "jsonl" / "one.jsonl"
            record.parent.mkdir()
            text = line.read_text(encoding="utf-8")[: int(args.jsonl_mb * 1_000_000)]
            record.write_text(json.dumps({"id": "big", "text": text}) + "\n", encoding="utf-8")
            result = run_index(record, folder / "idx-jsonl", model, env_extra)
            print(f"{'jsonl record':<12} {record.stat().st_size / 1e6:6.1f} {str(result['passages']):>9} "
                  f"{result['wall']:14.1f} {result['wall'] / (record.stat().st_size / 1e6):6.2f} "
                  f"{result['rss_mb']:18.0f}  (rc {result['rc']}, once)")
        per_mb = {name: min(r["wall"] for r in results) / sizes[name] for name, results in rows.items()}
        peak = max(r["rss_mb"] for r in rows["single line"])
        print(f"\nsingle line / prose time per MB: {per_mb['single line'] / per_mb['prose']:.2f}x; "
              f"single line peak RSS {peak:.0f} MB (goal <= 1024 MB): {'met' if peak <= 1024 else 'NOT met'}")


if __name__ == "__main__":
    main()
