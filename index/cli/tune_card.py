"""What `semsearch tune` reports: the model card (README.md in the model folder: data, settings, held-out curve,
benchmark) and the summary it prints, as text or one JSON object."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape


class CardInput:
    """Everything the model card and the summary report."""

    def __init__(self, report, tokenizer: str, data, bench: list, notes: list[str]) -> None:
        self.report, self.tokenizer, self.data, self.bench, self.notes = report, tokenizer, data, bench, notes
        self.total_seconds = 0.0  # the whole command: reading, tokenizing, training, saving, --eval
        self.fusion = None  # index.evaluate.fusion_pick.FusionChoice: the hybrid fusion saved with the model


def render_card(card: CardInput) -> str:
    r = card.report
    lines = [f"# {'Fine-tuned' if r.base else 'Static'} embedding model tuned with `semsearch tune`", "", *model_text(r)]
    lines += [
        "", "## Training data", "", "| source | pairs |", "|---|---|",
        *[f"| {_cell(src.describe())} | {len(src.pairs):,} |" for src in card.data.sources], "",
        f"{r.pairs:,} distinct pairs: {r.train_pairs:,} trained on; the pairs of {r.heldout_queries:,} held-out "
        "queries were kept out and scored during training to choose when to stop.", "", "## Settings", "",
        f"- tokenizer: {card.tokenizer}" + (f" ({r.vocab_size:,} tokens, truncation off)" if r.vocab_size else ""),
        *settings_text(r), "", "## Results", "",
        f"- training: {r.steps:,} steps ({r.epochs:g} epochs) in {r.seconds:.1f} s ({r.pairs_per_s:,.0f} pairs/s), "
        f"stopped by {r.stopped}; final epoch loss {r.final_loss:.4f}",
        f"- held-out: {heldout_text(r)}",
    ]
    if r.curve:
        lines += ["", "| step | epochs | seconds | held-out nDCG@10 | Recall@10 | MRR | lr after |",
                  "|---|---|---|---|---|---|---|"]
        lines += [
            f"| {p.step}{' (kept)' if p.step == r.best_step else ''} | {p.epoch:.2f} | {p.seconds:.1f} | "
            f"{p.ndcg:.3f} | {p.recall:.3f} | {p.mrr:.3f} | {p.lr:.3g} |" for p in r.curve
        ]
    lines += fusion_card(card.fusion)
    if card.bench:
        lines += ["", "## Benchmark (`semsearch bench`)", ""]
        lines += ["| run | nDCG@10 | Recall@10 | Recall@100 |", "|---|---|---|---|"]
        lines += [
            f"| {_cell(label)} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['recall@100']:.4f} |"
            for label, m in card.bench
        ]
    if card.notes:
        lines += ["", "## Notes", "", *[f"- {note}" for note in card.notes]]
    return "\n".join(lines) + "\n"


def fusion_card(choice) -> list[str]:
    if choice is None:
        return []
    from index.search.model_fusion import SETTINGS_FILE

    kept = choice.fusion.label()
    return [
        "", "## Hybrid fusion", "",
        f"`{kept}`, saved in {SETTINGS_FILE}: `semsearch index` records it and hybrid search "
        "uses it unless --fusion says otherwise. It had the best nDCG@10 when the held-out queries were ranked "
        f"against the same {choice.candidates:,} passages by this model and by BM25, each list fused as below.", "",
        "| ranking | held-out nDCG@10 |", "|---|---|",
        *[f"| {name}{' (kept)' if name == kept else ''} | {value:.4f} |"
          for name, value in choice.ndcg.items()],
    ]


def fusion_line(choice) -> str:
    """One line: the fusion kept, its held-out nDCG@10 against rrf:10's and the two lists alone."""
    from index.search.model_fusion import SETTINGS_FILE

    kept = choice.fusion.label()
    others = ", ".join(f"{name} {choice.ndcg[name]:.3f}" for name in ("dense", "lexical", "rrf:10") if name != kept)
    return (f"hybrid fusion {kept}: held-out nDCG@10 {choice.ndcg[kept]:.3f} ({others}); saved in {SETTINGS_FILE}, "
            "used by ask/related/serve/bench unless --fusion")


def model_text(r) -> list[str]:
    load = ('Load it with `SentenceTransformer("<this directory>")`, or index with `semsearch index --model '
            '<this directory> PATH...`.')
    if r.base:
        return [f"`{r.base}` fine-tuned on the pairs below (MultipleNegativesRankingLoss). {load}"]
    return ["A sentence-transformers model: StaticEmbedding (the mean of per-token vectors) -> Normalize. " + load]


def settings_text(r) -> list[str]:
    from embed.train.settings import RULES  # here, not at the top: the CLI imports this module on every start

    s = r.settings
    dims = f"; Matryoshka dims {', '.join(map(str, s.loss_dims()))}" if s.matryoshka else ""
    optimizer = ("AdamW (10% of the first epoch warming up, then falling linearly to 0 by the end of the budget; "
                 f"dropout {'on' if s.dropout else 'off'})") if r.base else "Adam"
    return [
        *([] if r.base else [f"- dimensions: {s.dim}{dims}", f"- initial token vectors: N(0, {s.init_std:g}), seeded"]),
        *([f"- max tokens (max_seq_length, what `semsearch index` cuts passages to): "
           f"{length_text(r.max_tokens, s.max_tokens)}"] if r.max_tokens else []),
        f"- loss: MultipleNegativesRankingLoss (scale {s.scale:g}; in-batch negatives, no text twice in a batch)"
        + (" inside MatryoshkaLoss" if s.matryoshka else "")
        + (f"; {r.hard_negatives:,} pairs with a BM25 hard negative" if r.hard_negatives else ""),
        f"- batch size {s.batch_size}, {optimizer} at lr {s.lr:.3g}, halved when the held-out nDCG@10 stops "
        f"improving; stop after {s.patience} evaluations without improvement, at most {s.epochs} epochs or "
        f"{s.time_budget:g} s of the budget for training; seed {s.seed}; {r.precision}",
        "- batch size and lr not given on the command line follow the data: batch = the power of two nearest "
        "n/4 (static, 64-1024) or n/32 (--base, 16-64); lr = lr0 x min(1, sqrt(1000/n)) with lr0 = "
        f"{RULES['static'][0]:g} (static) or {RULES['base'][0]:g} (--base), n = training pairs",
    ]


def length_text(lengths: tuple[int, int], asked: int | None) -> str:
    before, after = lengths
    if asked:
        return f"{after} (--max-tokens; the model's own is {before})"
    if before == after:
        return f"{after}, the model's own"
    return (f"{after}, raised from the model's {before}: more than a quarter of the passages were longer (trained "
            f"and scored on the held-out slice at {before}, three times cheaper a step)")


def heldout_text(r) -> str:
    if r.recall_before is None or r.recall_after is None:
        return "not measured (too few queries for a held-out slice)"
    return (
        f"nDCG@10 {r.ndcg_before:.3f} before training, {r.ndcg_after:.3f} after (step {r.best_step}; Recall@10 "
        f"{r.recall_before:.3f} -> {r.recall_after:.3f}, MRR {r.mrr_before:.3f} -> {r.mrr_after:.3f}; "
        f"{r.heldout_queries:,} queries ranked against {r.candidates:,} passages)"
    )


def summary_lines(card: CardInput, target: Path) -> list[str]:
    r = card.report
    lines = [
        f"trained on {r.train_pairs:,} pairs: {r.steps:,} steps ({r.epochs:g} epochs, batch {r.settings.batch_size}, "
        f"lr {r.settings.lr:.3g}) in {r.seconds:.1f} s, stopped by {r.stopped}; final epoch loss {r.final_loss:.4f}",
        f"held-out {escape(heldout_text(r))}",
    ]
    if r.curve:
        lines.append("held-out curve (step: nDCG@10 / Recall@10 / MRR): " + ", ".join(
            f"{p.step}: {p.ndcg:.3f}/{p.recall:.3f}/{p.mrr:.3f}" for p in r.curve))
    if card.fusion is not None:
        lines.append(escape(fusion_line(card.fusion)))
    lines += [f"bench {escape(label)}: nDCG@10 {m['ndcg@10']:.4f}" for label, m in card.bench]
    return lines + [f"saved to {escape(str(target))} ({card.total_seconds:.1f} s in all)"]


def summary_dict(card: CardInput, target: Path) -> dict:
    from dataclasses import asdict, replace

    sources = [{"path": s.path, "kind": s.kind, "split": s.split, "pairs": len(s.pairs)} for s in card.data.sources]
    report = asdict(replace(card.report, heldout_vectors=None))
    del report["heldout_vectors"]  # vectors, not a result
    return {
        "model": str(target), "tokenizer": card.tokenizer, "sources": sources, **report,
        "fusion": card.fusion.to_dict() if card.fusion else None, "total_seconds": round(card.total_seconds, 3),
        "bench": [{"run": label, "metrics": m} for label, m in card.bench], "notes": card.notes,
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
