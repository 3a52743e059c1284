"""Query start-up speed of semsearch and agreement of its lean query encoders, with all-MiniLM-L6-v2, one run.

    python -m bench.speed [--workdir /tmp/semsearch-speed] [--runs 9] [--target 10000]

1. Cold `semsearch ask`: a fresh process per question (page cache warm: one untimed run first), on an
   index of >= 10,000 passages (copies of the SQuAD v1.1 dev paragraphs; each distinct text is encoded
   once). Lean path (the shared query encoder of the model in the user cache, embed/encode/derived.py:
   all-MiniLM-L6-v2 is a BertModel, so numpy BERT), the same index answered by an ONNX lean encoder (a
   second cache folder, SEMSEARCH_CACHE, whose files for this model are the ONNX export), and the
   sentence-transformers path (SEMSEARCH_QUERY_ENCODER=full), interleaved; p50 wall and CPU seconds and
   their ratios. Bytecode caching is on for these runs, as for an installed package. Also: which heavy
   modules the lean run imported, and the import time of the largest top-level packages (python -X importtime).
2. Agreement of the lean encoders with SentenceTransformer (cosine, top-10 overlap): numpy BERT,
   ONNX fp32 and ONNX int8, and the seconds to load each and encode one question.

Passage-encoding throughput (OpenVINO against sentence-transformers) is measured by bench/encode_engines.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.shared import MODEL, SQUAD  # noqa: E402

QUESTION = "Which NFL team represented the AFC at Super Bowl 50?"
HEAVY = ("torch", "transformers", "sentence_transformers", "onnxruntime", "openvino", "faiss", "typer", "rich")
GOAL_S, GOAL_RATIO, KEEP_INT8 = 0.25, 10.0, 0.98


def load_squad() -> tuple[list[tuple[str, str]], list[str]]:
    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    paragraphs = [(a["title"].replace("_", " "), p["context"]) for a in data for p in a["paragraphs"]]
    questions = [q["question"] for a in data for p in a["paragraphs"] for q in p["qas"]]
    return paragraphs, questions


def build_index(directory: Path, paragraphs, target: int) -> dict:
    """An index of >= target passages (SQuAD paragraphs, copied); reused when already there and readable."""
    from embed.errors import SemsearchError
    from embed.records import Document
    from index.build.builder import IndexOptions, index_documents
    from index.storage.manifest import read_manifest

    if (directory / "manifest.json").is_file():
        try:
            manifest = read_manifest(directory)
        except SemsearchError:  # an index of an older format: built again below
            manifest = None
        if manifest and manifest.counts.vectors >= target and manifest.query_encoder:
            return {"passages": manifest.counts.passages, "seconds": 0.0, "reused": True}
    copies = -(-target // len(paragraphs))
    docs = [
        Document(f"squad{c}/{i}", title, text, "squad")
        for c in range(copies) for i, (title, text) in enumerate(paragraphs)
    ]
    report = index_documents(docs, directory, IndexOptions(rebuild=True))
    return {"passages": report.passages, "seconds": report.seconds, "reused": False, "notice": report.query_encoder_notice}


def shared_lean_dir(index_dir: Path) -> Path:
    """The lean query encoder the index's questions use: the model's derived files in the user cache."""
    from embed.encode.derived import derived_for
    from index.storage.manifest import read_manifest

    derived = derived_for(read_manifest(index_dir).model.fingerprint)
    if derived is None or not derived.lean_ok:
        raise SystemExit(f"no lean query encoder in the user cache for {index_dir} (run `semsearch index` there)")
    return derived.directory


# --- 1. cold `semsearch ask` ----------------------------------------------------------------------------


def ask_command(index_dir: Path) -> list[str]:
    script = Path(sys.executable).parent / "semsearch"
    head = [str(script)] if script.is_file() else [sys.executable, "-m", "index.cli.quick"]
    return [*head, "ask", QUESTION, "--index", str(index_dir), "-k", "5", "--json"]


def child_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "SEMSEARCH_QUERY_ENCODER")}
    return {**env, **extra}


def timed_run(command: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+sys) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr}")
    if "sentence-transformers" in proc.stderr and env.get("SEMSEARCH_QUERY_ENCODER") != "full":
        raise SystemExit(f"the lean run fell back to sentence-transformers:\n{proc.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def onnx_cache(lean_dir: Path, onnx_dir: Path, cache: Path) -> Path:
    """A second user cache whose files for this model are the ONNX lean encoder (the index is the same)."""
    target = cache / "models" / lean_dir.name
    shutil.rmtree(cache, ignore_errors=True)
    shutil.copytree(onnx_dir, target)  # copied: onnx.load refuses hard-linked weight files
    shutil.copyfile(lean_dir / "derived.json", target / "derived.json")
    return cache


def cold_ask(index_dir: Path, onnx_cache_dir: Path, runs: int) -> dict:
    command = ask_command(index_dir)
    variants = {
        "lean (numpy BERT)": child_env(),
        "lean (onnxruntime)": child_env(SEMSEARCH_CACHE=str(onnx_cache_dir)),
        "sentence-transformers": child_env(SEMSEARCH_QUERY_ENCODER="full"),
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for env in variants.values():
        timed_run(command, env)  # warm the page cache and the bytecode cache
    for _ in range(runs):
        for name, env in variants.items():  # interleaved, so all see the same machine load
            samples[name].append(timed_run(command, env))
    return {
        name: {"wall_p50": statistics.median(w for w, _ in rows), "cpu_p50": statistics.median(c for _, c in rows),
               "wall_min": min(w for w, _ in rows)}
        for name, rows in samples.items()
    }


RUNNER = (
    "import runpy, sys\nsys.argv = ['semsearch', *sys.argv[1:]]\ntry:\n    runpy.run_module('index.cli.quick', "
    "run_name='__main__')\nexcept SystemExit:\n    pass\nprint('HEAVY', [m for m in %r if m in sys.modules], "
    "file=sys.stderr)\n" % (HEAVY,)
)


def heavy_imports(index_dir: Path) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, *ask_command(index_dir)[-7:]], env=child_env(), capture_output=True, text=True
    )
    line = next((l for l in proc.stderr.splitlines() if l.startswith("HEAVY")), "HEAVY ['?']")
    return eval(line[6:])  # noqa: S307 - our own repr of a list of names


def import_profile(index_dir: Path, top: int = 9) -> list[tuple[str, float]]:
    """Cumulative import seconds of the top-level packages a lean `ask` imports (python -X importtime)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "index.cli.quick", *ask_command(index_dir)[-7:]],
        env=child_env(), capture_output=True, text=True,
    )
    totals: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if match:  # unindented name: imported from top-level code, its cumulative time counts once
            name = match.group(2).split(".")[0]
            totals[name] = totals.get(name, 0.0) + int(match.group(1)) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


# --- 2. agreement ------------------------------------------------------------------------------------


def topk_overlap(q_a, d_a, q_b, d_b, k: int = 10) -> float:
    top_a = np.argsort(-(q_a @ d_a.T), axis=1)[:, :k]
    top_b = np.argsort(-(q_b @ d_b.T), axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(top_a, top_b)]))


def agreement(encoder_a, encoder_b, questions, passages) -> dict:
    qa, qb = encoder_a.encode_queries(questions), encoder_b.encode_queries(questions)
    da, db = encoder_a.encode_documents(passages), encoder_b.encode_documents(passages)
    cos = np.concatenate([np.sum(qa * qb, axis=1), np.sum(da * db, axis=1)])
    return {"min_cos": float(cos.min()), "mean_cos": float(cos.mean()), "top10": topk_overlap(qa, da, qb, db)}


def int8_copy(lean_dir: Path, target: Path) -> Path:
    """The lean folder with its model dynamically quantised to int8 (onnxruntime.quantization)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    quantize_dynamic(
        str(lean_dir / "model.onnx"), str(target / "model.onnx"), weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    shutil.copyfile(lean_dir / "tokenizer.json", target / "tokenizer.json")
    settings = json.loads((lean_dir / "lean.json").read_text())
    settings.update(precision="int8", files={p.name: p.stat().st_size for p in target.iterdir()})
    (target / "lean.json").write_text(json.dumps(settings))
    return target


SESSION = """
import statistics, sys, time
from embed.lean.encoder import load_lean
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    load_lean(sys.argv[1]).encode_queries([sys.argv[3]])
    times.append(time.perf_counter() - started)
print(statistics.median(times))
"""


def session_seconds(lean_dir: Path, repeats: int = 5) -> float:
    """Median seconds to load a lean encoder the way `ask` does (its own process, one BLAS thread: see
    index/cli/quick.py) and encode one question."""
    proc = subprocess.run(
        [sys.executable, "-c", SESSION, str(lean_dir), str(repeats), QUESTION], capture_output=True, text=True,
        env=child_env(OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1])), check=True,
    )
    return float(proc.stdout.strip())


# --- report -------------------------------------------------------------------------------------------


def machine() -> str:
    from embed.encode.precision import cpu_supports_bf16

    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return (f"{model}; {os.cpu_count()} CPUs; bf16 instructions: {cpu_supports_bf16()}; "
            f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/semsearch-speed"))
    parser.add_argument("--runs", type=int, default=9, help="timed `ask` processes per path")
    parser.add_argument("--target", type=int, default=10_000, help="passages in the ask index")
    args = parser.parse_args()
    paragraphs, questions = load_squad()
    index_dir = args.workdir / "index"
    built = build_index(index_dir, paragraphs, args.target)
    print(f"machine: {machine()}")
    how = "reused" if built["reused"] else f"built in {built['seconds']:.0f} s"
    lean_dir = shared_lean_dir(index_dir)
    print(f"index: {index_dir}, {built['passages']} passages ({how}); lean query encoder: {lean_kind(index_dir)}, "
          f"shared files {lean_dir}")
    encoder, lean_dirs = lean_variants(lean_dir, args.workdir)
    report_cold_ask(index_dir, onnx_cache(lean_dir, lean_dirs["onnx fp32"], args.workdir / "cache-onnx"), args.runs)
    report_agreement(encoder, lean_dirs, paragraphs, questions)
    print("\npassages/s (OpenVINO vs sentence-transformers): python -m bench.encode_engines")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def lean_kind(index_dir: Path) -> str:
    from index.storage.manifest import read_manifest

    record = read_manifest(index_dir).query_encoder or {}
    return f"{record.get('kind')} (min cosine to sentence-transformers when derived {record.get('min_cosine')})"


def lean_variants(lean_dir: Path, workdir: Path):
    """The full encoder, and the lean folders compared: the shared one (numpy BERT), ONNX fp32 and int8."""
    from embed.encode.sentence_transformers import load_encoder
    from embed.lean.export import export_lean

    encoder = load_encoder(MODEL)
    onnx_dir = workdir / "lean-onnx"
    if not (onnx_dir / "lean.json").is_file():
        export_lean(encoder, onnx_dir, kind="onnx")
    return encoder, {"numpy BERT": lean_dir, "onnx fp32": onnx_dir, "onnx int8": int8_copy(onnx_dir, workdir / "lean-int8")}


def report_cold_ask(index_dir: Path, onnx_cache_dir: Path, runs: int) -> None:
    cold = cold_ask(index_dir, onnx_cache_dir, runs)
    lean, full = cold["lean (numpy BERT)"], cold["sentence-transformers"]
    print(f"\n== cold `semsearch ask` ({runs} interleaved runs each, p50) ==")
    for name, row in cold.items():
        print(f"  {name:22s} wall {row['wall_p50']:.3f} s (min {row['wall_min']:.3f})   cpu {row['cpu_p50']:.3f} s"
              f"   sentence-transformers / this: {full['wall_p50'] / row['wall_p50']:.1f}x")
    print(f"  goals: lean p50 <= {GOAL_S} s ({'met' if lean['wall_p50'] <= GOAL_S else 'NOT met'}), "
          f">= {GOAL_RATIO:.0f}x ({'met' if full['wall_p50'] / lean['wall_p50'] >= GOAL_RATIO else 'NOT met'})")
    print(f"  of {', '.join(HEAVY)}, the lean `ask` imported: {heavy_imports(index_dir) or 'none'}")
    profile = ", ".join(f"{name} {seconds:.3f}" for name, seconds in import_profile(index_dir))
    print(f"  import seconds by top-level package (lean ask, one run): {profile}")


def report_agreement(encoder, lean_dirs, paragraphs, questions) -> None:
    from embed.lean.encoder import load_lean

    sample_q, sample_p = questions[::35][:300], [text for _, text in paragraphs[::2][:600]]
    print(f"\n== agreement with SentenceTransformer fp32 ({len(sample_q)} questions, {len(sample_p)} passages) ==")
    for name, directory in lean_dirs.items():
        lean = load_lean(directory, threads=os.cpu_count())
        row = agreement(lean, encoder, sample_q, sample_p)
        verdict = f"  -> {'qualifies' if row['top10'] >= KEEP_INT8 else 'not kept'} (int8 needs top-10 >= {KEEP_INT8})" if "int8" in name else ""
        print(f"  lean {name:10s}: min cos {row['min_cos']:.5f}, mean cos {row['mean_cos']:.5f}, top-10 overlap "
              f"{row['top10']:.3f}; load + 1 question {session_seconds(directory):.3f} s{verdict}")


if __name__ == "__main__":
    main()
