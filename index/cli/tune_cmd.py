"""The `semsearch tune` command: train a StaticEmbedding model, or fine-tune a pretrained one, on (query, passage) pairs.

Library work lives in ``embed.train`` (``static``, ``base``: training; ``save``), ``embed.train.wordpiece`` (tokenizers) and
``index.evaluate.tune_data`` (reading the pairs); this module parses options, draws the progress bar, prints the
summary and writes the model card (README.md) that records data, settings and scores (``index.cli.tune_card``
renders both).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from index.cli.tune_card import CardInput, render_card, summary_dict, summary_lines

# of --time-budget, kept after training for choosing the fusion and saving (a MiniLM: ~3 s of 300 here)
FINISH_SHARE = 0.02


def tune(
    train: list[Path] = typer.Argument(
        ..., help="Training data: BEIR directories (their train qrels), SQuAD v1.1 .json files, .jsonl files of "
        '{"query": ..., "passage": ...} lines; combined.'
    ),
    out_dir: Path = typer.Option(..., "--out", help="Directory for the model (new, empty, or an earlier model)."),
    tokenizer: Optional[str] = typer.Option(
        None, "--tokenizer", show_default=False,
        help="tokenizer.json, model directory or hub id [default: train a WordPiece vocabulary on the training texts]",
    ),
    base: Optional[str] = typer.Option(
        None, "--base", show_default=False,
        help="Fine-tune this pretrained sentence-transformers model (hub id or directory) instead of training a "
        "static model from scratch, e.g. sentence-transformers/all-MiniLM-L6-v2.",
    ),
    dim: Optional[int] = typer.Option(
        None, "--dim", min=1, show_default=False, help="Embedding dimensions of a static model (default 256)."
    ),
    epochs: Optional[int] = typer.Option(
        None, "--epochs", min=1, show_default=False,
        help="The most passes over the pairs; training usually stops sooner, when the held-out pairs stop "
        "improving (default: at most 40 static, 10 --base).",
    ),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", min=2, show_default=False,
        help="Pairs per batch, the in-batch negatives (default: scaled with the data; the model card says how).",
    ),
    lr: Optional[float] = typer.Option(
        None, "--lr", min=0.0, show_default=False,
        help="Peak learning rate, halved whenever the held-out score stops improving; with --base it also falls "
        "linearly to 0 by the end of the budget (default: scaled with the data).",
    ),
    time_budget: float = typer.Option(
        300.0, "--time-budget", min=0.0, help="Seconds the whole command may take: reading the data, training and "
        "held-out evaluations, then saving (the last 2% are kept for saving and choosing the fusion)."
    ),
    patience: int = typer.Option(
        3, "--patience", min=1, help="Held-out evaluations in a row without improvement before training stops."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed, data and settings give the same model."),
    hard_negatives: Optional[bool] = typer.Option(
        None, "--hard-negatives/--no-hard-negatives", show_default=False,
        help="With --base: add to each pair the passage BM25 ranks highest for its query that is not its own (a "
        "third text per pair) [default: on with --base]",
    ),
    max_tokens: Optional[int] = typer.Option(
        None, "--max-tokens", min=8, show_default=False,
        help="With --base: the model's max_seq_length, which `semsearch index` also cuts passages to [default: the "
        "model's own, raised (up to its position limit) when it would cut more than a quarter of the passages]",
    ),
    matryoshka: Optional[str] = typer.Option(
        None, "--matryoshka", help="Also train these smaller dims, e.g. 128,64 (MatryoshkaLoss).", show_default=False
    ),
    split: Optional[str] = typer.Option(
        None, "--split", show_default=False,
        help="BEIR qrels split to train on [default: train; 'test', which `bench` scores, only when named]",
    ),
    eval_dataset: Optional[Path] = typer.Option(
        None, "--eval", help="Afterwards run `semsearch bench` on this dataset with the new model.", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Train an embedding model on TRAIN pairs (MultipleNegativesRankingLoss) and save it to --out.

    By default a fast StaticEmbedding model is trained from scratch; --base fine-tunes a pretrained
    sentence-transformers model. Either way training stops when a held-out slice of the pairs stops
    improving, or at --time-budget, and the best checkpoint is kept.
    """
    from embed.train.settings import TuneSettings
    from embed.train.save import check_out_dir, save_tuned
    from index.cli.output import err, friendly_errors, out, print_json
    from index.evaluate.fusion_pick import pick_fusion
    from index.evaluate.tune_data import load_training_pairs

    started = time.perf_counter()
    if base is not None:
        clashing = [name for name, value in (("--dim", dim), ("--tokenizer", tokenizer), ("--matryoshka", matryoshka))
                    if value is not None]
        if clashing:
            raise typer.BadParameter(f"{', '.join(clashing)} only apply to a static model, not with --base")
    elif hard_negatives or max_tokens:
        raise typer.BadParameter(f"{'--hard-negatives' if hard_negatives else '--max-tokens'} only applies with --base "
                                 "(fine-tuning a pretrained model)")
    settings = TuneSettings(
        dim=dim or 256, epochs=epochs, batch_size=batch_size, lr=lr or None, patience=patience, seed=seed,
        time_budget=time_budget * (1 - FINISH_SHARE), max_tokens=max_tokens,
        matryoshka=parse_dims(matryoshka),
    )
    with friendly_errors():
        settings.check()
        target = check_out_dir(out_dir)
        data = load_training_pairs(train, split)
        for warning in data.warnings:
            err.print(f"[yellow]warning:[/] {escape(warning)}")
        with loss_bar(enabled=not as_json) as progress:
            if base is None:
                from embed.train.static import tune_static

                tok, tok_text = pick_tokenizer(tokenizer, data.pairs)
                model, report = tune_static(data.pairs, tok, settings, progress, corpus=data.corpus, started=started)
            else:
                from embed.train.base import tune_base

                pairs = data.pairs
                if hard_negatives is not False:
                    from index.evaluate.negatives import mine_bm25_negatives

                    pairs = mine_bm25_negatives(pairs, data.corpus)
                model, report = tune_base(pairs, base, settings, progress, corpus=data.corpus, started=started)
                tok_text = f"the tokenizer of `{base}`"
        card = CardInput(report, tok_text, data, [], list(data.warnings))
        card.fusion = pick_fusion(report.heldout_vectors)
        save_tuned(model, target, render_card(card), fusion_files(card.fusion))
        if eval_dataset is not None:
            card.bench = run_eval(eval_dataset, target, as_json)
            card.notes += eval_notes(eval_dataset, data)
            Path(target, "README.md").write_text(render_card(card), encoding="utf-8")
    card.total_seconds = time.perf_counter() - started
    if as_json:
        print_json(summary_dict(card, target))
        return
    for line in summary_lines(card, target):
        out.print(line)


def fusion_files(choice) -> dict[str, str]:
    """semsearch.json for the model folder: the hybrid fusion chosen on the held-out queries ({} without one)."""
    import json

    from index.search.model_fusion import SETTINGS_FILE

    return {SETTINGS_FILE: json.dumps(choice.to_dict(), indent=2) + "\n"} if choice else {}


def parse_dims(text: str | None) -> tuple[int, ...]:
    if not text or not text.strip():
        return ()
    try:
        dims = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers such as 256,128,64, not '{text}'") from None
    return tuple(sorted(set(dims), reverse=True))


def pick_tokenizer(spec: str | None, pairs):
    """(tokenizer, how it was obtained): --tokenizer, else WordPiece trained on the pairs' texts."""
    from embed.train.wordpiece import load_tokenizer, train_wordpiece

    if spec:
        return load_tokenizer(spec), f"`{spec}`"
    texts = list(dict.fromkeys(text for pair in pairs for text in (pair.query, pair.passage)))
    return train_wordpiece(texts), f"WordPiece trained on the {len(texts):,} training texts"


@contextmanager
def loss_bar(enabled: bool) -> Iterator:
    """A rich progress bar over training steps showing the running loss (on stderr, terminals only)."""
    from rich.progress import (
        BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
    )

    from index.cli.output import err

    if not (enabled and err.is_terminal):
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=err,
    )
    task = bar.add_task("Tokenizing, held-out recall", total=None, loss="-")

    def update(step: int, total: int, loss: float) -> None:
        bar.update(task, description="Training", completed=step, total=total, loss=f"{loss:.4f}")

    with bar:
        yield update


def run_eval(dataset: Path, model_dir: Path, as_json: bool) -> list[tuple[str, dict]]:
    """`semsearch bench` rows (label, metrics) of ``dataset`` with the new model."""
    from index.evaluate.bench import BenchOptions, run_bench
    from index.cli.output import err
    from index.cli.progress import phase_progress

    with phase_progress(err, enabled=not as_json) as progress:
        report = run_bench(dataset, BenchOptions(mode="all", model=str(model_dir)), progress)
    label = f"{report.dataset} ({report.split}, {report.queries:,} queries)"
    return [(f"{label}: {row.label}", dict(row.metrics)) for row in report.results if row.available]


def eval_notes(dataset: Path, data) -> list[str]:
    trained_on = {Path(source.path).resolve() for source in data.sources if source.split in (None, "test")}
    if Path(dataset).resolve() in trained_on:
        return [f"the benchmark on {dataset} scores queries the model was trained on: not a fair test"]
    return []
