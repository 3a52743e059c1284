"""Does `semsearch tune` generalise? Tune on SQuAD articles, test on other articles it never saw.

    python bench/tune_generalise.py [--squad ../shared/datasets/squad_v1.1/dev-v1.1.json] [--work /tmp/gen]
                                    [--old-tree DIR] [--base sentence-transformers/all-MiniLM-L6-v2]

SQuAD v1.1 dev is split by article (seeded): ``--test-share`` of the articles become a test set that
neither training nor any choice made during training sees (tune's own held-out slice comes out of the
training articles). Each recipe is tuned on the training articles with `semsearch tune ... --json`
and then scored with `semsearch bench <test articles> --model M --mode all --json`. Printed: the
tuning time, the held-out curve tune chose its checkpoint on, and nDCG@10 / Recall@10 of every row on
the unseen articles, beside BM25 on the same queries.

Recipes: ``new`` (the defaults: data-scaled batch and lr, early stopping, 300 s budget); ``old`` (the
fixed 3 epochs / batch 512 / lr 0.1 recipe, run from a checkout of the code before this change given
with ``--old-tree``, e.g. ``git archive b1eb093 | tar -x -C DIR``); ``base`` (``--base`` fine-tuning).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared/datasets/squad_v1.1/dev-v1.1.json"


def split_articles(squad: Path, work: Path, share: float, seed: int) -> tuple[Path, Path]:
    data = json.loads(squad.read_text(encoding="utf-8"))
    articles = list(data["data"])
    random.Random(seed).shuffle(articles)
    cut = max(1, round(len(articles) * share))
    test, train = articles[:cut], articles[cut:]
    work.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, part in (("train", train), ("test", test)):
        path = work / f"squad-{name}-articles.json"
        path.write_text(json.dumps({"version": data.get("version", "1.1"), "data": part}), encoding="utf-8")
        questions = sum(len(p["qas"]) for a in part for p in a["paragraphs"])
        print(f"{name}: {len(part)} articles, {sum(len(a['paragraphs']) for a in part)} paragraphs, "
              f"{questions} questions -> {path}")
        paths.append(path)
    return paths[0], paths[1]


def semsearch(args: list[str], tree: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-m", "index.cli.app", *args], cwd=tree, env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"semsearch {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def run_recipe(name: str, tree: Path, train: Path, test: Path, work: Path, extra: list[str]) -> None:
    model = work / f"model-{name}"
    started = time.perf_counter()
    tuned = semsearch(["tune", str(train), "--out", str(model), "--json", *extra], tree)
    seconds = time.perf_counter() - started
    print(f"\n== {name}: tuned in {seconds:.1f} s (training {tuned['seconds']:.1f} s, {tuned['steps']} steps, "
          f"{tuned.get('epochs', '?')} epochs, stopped by {tuned.get('stopped', 'fixed epochs')})")
    settings = tuned["settings"]
    print(f"   batch {settings['batch_size']}, lr {settings['lr']:.3g}; held-out Recall@10 "
          f"{tuned['recall_before']:.3f} -> {tuned['recall_after']:.3f}")
    for point in tuned.get("curve", []):
        print(f"   step {point['step']:>5} epoch {point['epoch']:6.2f} {point['seconds']:7.1f} s  "
              f"R@10 {point['recall']:.3f}  MRR {point['mrr']:.3f}  lr {point['lr']:.3g}")
    report = semsearch(["bench", str(test), "--model", str(model), "--mode", "all", "--json",
                        "--cache-dir", str(work / "bench-cache")], ROOT)
    for row in report["results"]:
        label = row["mode"] + (f" {row['fusion']}" if row.get("fusion") else "")
        m = row["metrics"]
        print(f"   unseen articles ({report['queries']} queries) {label:<16} nDCG@10 {m['ndcg@10']:.4f}  "
              f"Recall@10 {m['recall@10']:.4f}  Recall@100 {m['recall@100']:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--work", type=Path, default=Path("/tmp/semsearch-generalise"))
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--old-tree", type=Path, help="a checkout of the code before data-chosen training")
    parser.add_argument("--base", help="also fine-tune this pretrained model (tune --base)")
    parser.add_argument("--recipes", default="new,old,base")
    args = parser.parse_args()
    train, test = split_articles(args.squad, args.work, args.test_share, args.seed)
    wanted = args.recipes.split(",")
    if "new" in wanted:
        run_recipe("new", ROOT, train, test, args.work, [])
    if "old" in wanted and args.old_tree:
        run_recipe("old", args.old_tree, train, test, args.work, [])
    if "base" in wanted and args.base:
        run_recipe("base", ROOT, train, test, args.work, ["--base", args.base])


if __name__ == "__main__":
    main()
