"""Warm `GET /api/ask` latency and throughput of `semsearch serve` on the SciFact index, loopback only.

    python -m bench.serve_load [--index DIR] [--mode hybrid] [--clients 1,8] [--requests 200] [--rounds 2]

A real `semsearch serve` process on 127.0.0.1 (ephemeral port) answers SciFact's test questions; each
client is a thread with one keep-alive connection sending the next question as soon as the last is
answered. Per round, in the same order: the library's own ``Searcher.ask`` in this process (the
baseline: the same question without HTTP), then 1 client, then 8. Bounded in count (--requests per
row and round) and in time (--seconds per row). Prints p50 / p99 latency, requests/s and errors.
Goal (issue 15): hybrid p50 <= 20 ms with 1 client, 0 errors.

Without --index the SciFact corpus is indexed once into the benchmark cache (``--cache-dir``, default
~/.cache/semsearch/bench/serve-scifact) with all-MiniLM-L6-v2; set HF_HUB_OFFLINE=1 where the hub is
out of reach.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.shared import MODEL, SCIFACT  # noqa: E402


def scifact_questions(dataset: Path, split: str = "test") -> list[str]:
    wanted = {line.split("\t")[0] for line in (dataset / "qrels" / f"{split}.tsv").read_text().splitlines()[1:]}
    questions = []
    for line in (dataset / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if str(record["_id"]) in wanted:
            questions.append(record["text"])
    return questions


def ensure_index(args) -> Path:
    if args.index:
        return Path(args.index)
    directory = Path(args.cache_dir).expanduser() / "index"
    if not (directory / "manifest.json").is_file():
        from index.api import index_paths

        print(f"indexing {SCIFACT / 'corpus.jsonl'} into {directory} (once) ...", flush=True)
        index_paths([SCIFACT / "corpus.jsonl"], directory, model=MODEL)
    return directory


class Server:
    """`semsearch serve --port 0` in a subprocess; the port is read from its 'serving ... at' line."""

    def __init__(self, directory: Path) -> None:
        command = [sys.executable, "-m", "index.cli.quick", "serve", "--index", str(directory), "--port", "0"]
        env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 300
        for line in self.process.stderr:
            if " at http://127.0.0.1:" in line:
                self.url = "http://127.0.0.1:" + line.split(" at http://127.0.0.1:")[1].split("/")[0]
                break
            if time.monotonic() > deadline:
                break
        else:
            raise SystemExit(f"semsearch serve did not start (exit {self.process.wait()})")
        threading.Thread(target=self.process.stderr.read, daemon=True).start()  # keep its pipe drained

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def http_row(url: str, questions: list[str], mode: str, clients: int, requests: int, seconds: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(requests))
    deadline = time.monotonic() + seconds

    def client(slot: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as session:
            session.get("/healthz")
            for n in counter:
                if time.monotonic() > deadline:
                    break
                question = questions[(n * 7 + slot) % len(questions)]
                started = time.perf_counter()
                try:
                    response = session.get("/api/ask", params={"q": question, "k": 10, "mode": mode})
                    ok = response.status_code == 200 and response.json()["mode"] == mode
                except httpx.HTTPError as exc:
                    ok, response = False, exc
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed) if ok else errors.append(str(response)[:200])

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(slot,)) for slot in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summarise(latencies, errors, time.perf_counter() - started)


def library_row(searcher, questions: list[str], mode: str, requests: int, seconds: float) -> dict:
    latencies = []
    deadline = time.monotonic() + seconds
    started = time.perf_counter()
    for n in range(requests):
        if time.monotonic() > deadline:
            break
        question = questions[(n * 7) % len(questions)]
        began = time.perf_counter()
        searcher.ask(question, k=10, mode=mode)
        latencies.append(time.perf_counter() - began)
    return summarise(latencies, [], time.perf_counter() - started)


def summarise(latencies: list[float], errors: list[str], wall: float) -> dict:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))] if ms else float("nan")
    return {"n": len(ms), "p50": statistics.median(ms) if ms else float("nan"), "p99": p99,
            "rps": len(ms) / wall if wall else 0.0, "errors": len(errors), "first_error": errors[0] if errors else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", help="an existing index (default: SciFact, built once into --cache-dir)")
    parser.add_argument("--cache-dir", default="~/.cache/semsearch/bench/serve-scifact")
    parser.add_argument("--mode", default="hybrid", choices=["auto", "hybrid", "dense", "lexical"])
    parser.add_argument("--clients", default="1,8", help="comma-separated concurrent client counts")
    parser.add_argument("--requests", type=int, default=200, help="requests per row and round (bound)")
    parser.add_argument("--seconds", type=float, default=30.0, help="time per row and round (bound)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `semsearch serve` does, for the baseline row

    directory = ensure_index(args)
    questions = scifact_questions(SCIFACT)
    clients = [int(c) for c in args.clients.split(",")]
    from index.api import open_index

    print(f"index {directory}; {len(questions)} SciFact test questions; mode {args.mode}; k=10; "
          f"{args.requests} requests or {args.seconds:.0f} s per row and round; {os.cpu_count()} CPUs", flush=True)
    server = Server(directory)
    rows: dict[str, list[dict]] = {}
    try:
        with open_index(directory, warm=True) as searcher:
            library_row(searcher, questions, args.mode, args.warmup, 60)
            http_row(server.url, questions, args.mode, 1, args.warmup, 60)  # warm: encoder, caches, connections
            for round_number in range(1, args.rounds + 1):
                order = [("library ask (no HTTP)", None)] + [(f"HTTP, {c} client{'s' * (c > 1)}", c) for c in clients]
                for name, count in order:
                    row = (library_row(searcher, questions, args.mode, args.requests, args.seconds) if count is None
                           else http_row(server.url, questions, args.mode, count, args.requests, args.seconds))
                    rows.setdefault(name, []).append(row)
                    print(f"  round {round_number}: {name:<24} n={row['n']:<4} p50 {row['p50']:7.2f} ms  "
                          f"p99 {row['p99']:7.2f} ms  {row['rps']:7.1f} req/s  errors {row['errors']}"
                          + (f"  ({row['first_error']})" if row["errors"] else ""), flush=True)
    finally:
        server.stop()
    print(f"\n{'row':<26}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'errors':>8}   (median of rounds)")
    for name, measured in rows.items():
        med = {key: statistics.median(r[key] for r in measured) for key in ("p50", "p99", "rps")}
        print(f"{name:<26}{sum(r['n'] for r in measured):>9}{med['p50']:>9.2f}{med['p99']:>9.2f}{med['rps']:>9.1f}"
              f"{sum(r['errors'] for r in measured):>8}")
    one = rows.get("HTTP, 1 client")
    if one:
        p50 = statistics.median(r["p50"] for r in one)
        errors = sum(r["errors"] for measured in rows.values() for r in measured)
        verdict = "met" if p50 <= 20 and errors == 0 else "NOT met"
        print(f"\ngoal ({args.mode}, 1 client): p50 <= 20 ms and 0 errors: {verdict} (p50 {p50:.2f} ms, errors {errors})")


if __name__ == "__main__":
    main()
