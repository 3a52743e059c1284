"""How long `semsearch serve --watch` takes to make a file change searchable, while it keeps answering.

    python -m bench.watch_latency [--rounds 3] [--model sentence-transformers/all-MiniLM-L6-v2]

seeds/ is copied to a temporary folder and indexed with the real model; then a real `semsearch serve
--watch FOLDER` process (127.0.0.1, ephemeral port) runs while a client keeps asking questions. Each
round adds a file with a made-up word, changes that word, and deletes the file, timing from the write
to the first answer that shows it (found / updated / gone). Prints each time, the medians, and the
questions answered and failed meanwhile. Goal (issue 15): each median <= 5 s, 0 failed questions.
Bounded: --rounds rounds, at most --timeout seconds per wait.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.shared import MODEL  # noqa: E402


def start_serve(directory: Path, docs: Path) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "index.cli.quick", "serve", "--index", str(directory), "--watch", str(docs),
               "--port", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
    for line in process.stderr:
        if " at http://127.0.0.1:" in line:
            url = "http://127.0.0.1:" + line.split(" at http://127.0.0.1:")[1].split("/")[0]
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
            return process, url
    raise SystemExit(f"semsearch serve did not start (exit {process.wait()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds at most per wait")
    args = parser.parse_args()
    import httpx

    from index.api import index_paths

    work = Path(tempfile.mkdtemp(prefix="semsearch-watch-bench-"))
    docs, directory = work / "docs", work / "idx"
    shutil.copytree(ROOT / "seeds", docs)
    started = time.perf_counter()
    report = index_paths([docs], directory, model=args.model)
    print(f"seeds/ copy: {report.documents} documents, {report.passages} passages, first build "
          f"{time.perf_counter() - started:.1f} s; model {args.model}", flush=True)

    process, url = start_serve(directory, docs)
    client = httpx.Client(base_url=url, timeout=60)
    answered, failed = [0], []
    stop = threading.Event()

    def keep_asking() -> None:  # a user of the server, all along
        with httpx.Client(base_url=url, timeout=60) as own:
            while not stop.is_set():
                try:
                    response = own.get("/api/ask", params={"q": "Who visited Tehran?", "k": 5})
                    answered[0] += 1
                    if response.status_code != 200:
                        failed.append(f"{response.status_code} {response.text[:120]}")
                except httpx.HTTPError as exc:
                    failed.append(repr(exc))
                time.sleep(0.05)

    def titles_for(word: str) -> list[str]:
        response = client.get("/api/ask", params={"q": word, "mode": "lexical", "k": 3})
        return [hit["title"] for hit in response.json()["hits"]] if response.status_code == 200 else []

    def until(condition) -> float:
        began = time.perf_counter()
        while not condition():
            if time.perf_counter() - began > args.timeout:
                return float("inf")
            time.sleep(0.02)
        return time.perf_counter() - began

    times: dict[str, list[float]] = {"added": [], "changed": [], "deleted": []}
    asker = threading.Thread(target=keep_asking, daemon=True)
    try:
        until(lambda: client.get("/healthz").status_code == 200)
        time.sleep(1.0)  # the watcher's first (no-change) run
        asker.start()
        for n in range(1, args.rounds + 1):
            path, title = docs / f"bench-note-{n}.md", f"Bench Note {n}"
            old, new = f"quorblex{n}", f"zentrafid{n}"
            path.write_text(f"# {title}\n\nThe {old} valley floods each spring.", encoding="utf-8")
            times["added"].append(until(lambda: title in titles_for(old)))
            path.write_text(f"# {title}\n\nThe {new} valley floods each spring.", encoding="utf-8")
            times["changed"].append(until(lambda: title in titles_for(new) and title not in titles_for(old)))
            path.unlink()
            times["deleted"].append(until(lambda: title not in titles_for(new)))
            print(f"  round {n}: added {times['added'][-1]:.2f} s, changed {times['changed'][-1]:.2f} s, "
                  f"deleted {times['deleted'][-1]:.2f} s", flush=True)
    finally:
        stop.set()
        if asker.is_alive():
            asker.join(timeout=10)
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    medians = {op: statistics.median(values) for op, values in times.items()}
    print("median: " + ", ".join(f"{op} {value:.2f} s" for op, value in medians.items()))
    print(f"questions answered meanwhile: {answered[0]}, failed: {len(failed)}" + (f" ({failed[0]})" if failed else ""))
    verdict = "met" if max(medians.values()) <= 5 and not failed else "NOT met"
    print(f"goal: each median <= 5 s and 0 failed questions: {verdict}")


if __name__ == "__main__":
    main()
