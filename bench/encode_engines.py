"""Passages/s of semsearch's OpenVINO engine against the default float32 ``SentenceTransformer.encode`` and the
old hand-written bf16 kernel path (a checkout of the last commit that had it), on real SciFact passages.

    python -m bench.encode_engines [--rounds 3] [--sample 600] [--old-commit fc99a6a] [--overlap]

Every engine encodes the same passages (cut by semsearch's own chunker) in a fresh process per round, after
a warm-up batch; rounds interleave the engines so that a noisy minute hurts them all alike. Printed: best and
median passages/s, the ratio of medians to float32 sentence-transformers, and the smallest cosine to its
vectors. ``--overlap``: the whole corpus encoded by the OpenVINO engine at its default precision and in
float32, and the share of the 300 test questions' top-10 passages the two agree on.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.shared import MODEL as DEFAULT_MODEL, SCIFACT

REPO = Path(__file__).resolve().parents[1]
WORKER = r"""
import json, sys, time
import numpy as np
engine, texts_path, out_path = sys.argv[1:4]
texts = json.loads(open(texts_path).read())
if engine == "st-fp32":
    from sentence_transformers import SentenceTransformer
    from embed.encode.models import bundled_snapshot, cached_snapshot
    model = SentenceTransformer(cached_snapshot(MODEL) or bundled_snapshot(MODEL), device="cpu")
    encode = lambda t: model.encode(t, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
elif engine.startswith("openvino"):
    from embed.encode.factory import open_encoder
    encoder = open_encoder(MODEL, "fp32" if engine == "openvino-fp32" else "auto").encoder
    assert type(encoder).__name__ == "OpenVINOEncoder", type(encoder)
    encode = lambda t: encoder.encode_documents(t, batch_size=32)
else:  # the old kernel path, run from its own checkout
    from embed.encoders import load_encoder
    from embed.export import precision_context
    encoder = load_encoder(MODEL)
    context = precision_context(encoder, "bf16")
    context.__enter__()
    encode = lambda t: encoder.encode_documents(t, batch_size=32)
encode(texts[:32])
started = time.perf_counter()
vectors = encode(texts)
seconds = time.perf_counter() - started
np.save(out_path, np.asarray(vectors, dtype=np.float32))
print(json.dumps({"pps": len(texts) / seconds}))
"""
ENGINES = {
    "st-fp32": "SentenceTransformer.encode, float32 (default)",
    "openvino": "semsearch, OpenVINO, default precision",
    "openvino-fp32": "semsearch, OpenVINO, float32",
    "old-kernels": "old bf16 kernel path",
}


def load_passages(limit_docs: int | None = None) -> list[str]:
    """SciFact's corpus cut into passages by semsearch's chunker, with the model's own tokenizer."""
    from embed.encode.factory import open_encoder
    from embed.records import ChunkerSettings
    from embed.text.chunking import chunk_document
    from index.evaluate.datasets import load_dataset

    encoder = open_encoder(DEFAULT_MODEL).encoder
    settings = ChunkerSettings(encoder.passage_budget(), 48, encoder.model_id)
    documents = list(load_dataset(SCIFACT).documents)[:limit_docs]
    return [p.text for doc in documents for p in chunk_document(doc, encoder.counter, settings)]


def run_engine(engine: str, texts_path: Path, out: Path, old_tree: Path | None) -> float:
    tree = old_tree if engine == "old-kernels" else REPO
    code = f"MODEL = {DEFAULT_MODEL!r}\n" + WORKER
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code, engine, str(texts_path), str(out)], capture_output=True,
                          text=True, env=env, cwd=tree, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} failed: {proc.stderr[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["pps"]


def old_checkout(commit: str) -> Path | None:
    target = Path(tempfile.gettempdir()) / f"semsearch-{commit}"
    if not target.is_dir():
        done = subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(target), commit],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"old kernel path left out: {done.stderr.strip()}")
            return None
    return target


def throughput(args) -> None:
    texts = load_passages()
    rng = np.random.default_rng(0)
    sample = [texts[i] for i in sorted(rng.choice(len(texts), size=min(args.sample, len(texts)), replace=False))]
    work = Path(tempfile.mkdtemp(prefix="encode-engines-"))
    (work / "texts.json").write_text(json.dumps(sample))
    old_tree = old_checkout(args.old_commit) if args.old_commit else None
    engines = [e for e in ENGINES if e != "old-kernels" or old_tree is not None]
    speeds: dict[str, list[float]] = {e: [] for e in engines}
    print(f"{len(sample)} SciFact passages (of {len(texts)}), mean {np.mean([len(t) for t in sample]):.0f} chars; "
          f"{args.rounds} interleaved rounds; {os.cpu_count()} CPUs")
    for round_no in range(args.rounds):
        for engine in engines:
            speeds[engine].append(run_engine(engine, work / "texts.json", work / f"{engine}.npy", old_tree))
        print(f"round {round_no + 1}: " + ", ".join(f"{e} {speeds[e][-1]:.1f}/s" for e in engines), flush=True)
    reference = np.load(work / "st-fp32.npy")
    base = statistics.median(speeds["st-fp32"])
    print(f"\n| engine | best passages/s | median | x fp32 ST (medians) | min cosine to fp32 ST |\n|---|---|---|---|---|")
    for engine in engines:
        cos = float(np.min(np.sum(np.load(work / f"{engine}.npy") * reference, axis=1)))
        median = statistics.median(speeds[engine])
        print(f"| {ENGINES[engine]} | {max(speeds[engine]):.1f} | {median:.1f} | {median / base:.2f}x | {cos:.6f} |")


def overlap() -> None:
    """Top-10 agreement of the default-precision engine with float32 on SciFact's 300 test questions."""
    from embed.encode.factory import open_encoder
    from embed.encode.openvino import load_openvino
    from index.evaluate.datasets import load_dataset

    texts = load_passages()
    opened = open_encoder(DEFAULT_MODEL)
    fast, exact = opened.encoder, load_openvino(opened.derived.directory, "fp32")
    questions = list(load_dataset(SCIFACT).queries.values())
    q = exact.encode_queries(questions)
    tops = [np.argsort(-(enc.encode_documents(texts, batch_size=32) @ q.T), axis=0)[:10].T for enc in (fast, exact)]
    shares = [len(set(a) & set(b)) / 10 for a, b in zip(*tops)]
    same = sum(s == 1.0 for s in shares) / len(shares)
    print(f"\ntop-10 overlap, {fast.precision} vs fp32 on {len(texts)} passages, {len(questions)} test questions: "
          f"mean {np.mean(shares):.4f}, identical top-10 for {same:.1%} of questions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sample", type=int, default=600)
    parser.add_argument("--old-commit", default="fc99a6a", help="commit with the old kernel path ('' to leave it out)")
    parser.add_argument("--overlap", action="store_true", help="also the top-10 overlap on the whole corpus")
    args = parser.parse_args()
    throughput(args)
    if args.overlap:
        overlap()


if __name__ == "__main__":
    main()
