"""What `semsearch tune` trains with, the rule that scales batch and learning rate with the data, and its report.

The rule (``scaled``), for ``n`` training pairs, where the user did not set the value:

- batch size: the power of two nearest ``n / 4`` (static) or ``n / 32`` (``--base``), clamped to
  [64, 1024] (static) or [16, 64] (``--base``). Bigger batches give MultipleNegativesRankingLoss more
  negatives but fewer updates an epoch; for ``--base`` with dropout off a pair costs about the same in any
  batch here (0.13-0.15 s with a hard negative at 16, 32 and 64), so one epoch costs the same and ``n / 32``
  keeps ~26 updates an epoch (SciFact's 818 pairs, 300 s: held-out nDCG@10 0.908 at batch 16, 0.913 at 32,
  0.909 at 64, at lr 5e-5). Static: 256 for SciFact, against 512 from the earlier ``n / 2``: held-out nDCG@10 0.678 /
  0.734 / 0.631 / 0.634 against 0.672 / 0.698 / 0.647 / 0.620 on the slices of seeds 0-3.
- learning rate: ``lr0 * min(1, sqrt(1000 / n))`` with lr0 = 0.1 (static, Adam) or 2e-4 (``--base``, AdamW).
  Every parameter is updated ~n / batch times per epoch; shrinking the rate with sqrt(n) keeps one epoch's
  drift about the same whatever the data size, so a 100x larger set no longer runs 10x too hot. At about
  1,000 pairs (SciFact's train split) the rule gives the hand-tuned 0.1. ``--base`` lr0, chosen on SciFact's
  held-out slices of seeds 0 and 1 ranked against all 5,183 abstracts (dense nDCG@10 at 5e-5 / 1e-4 / 2e-4 /
  4e-4: 0.808 / 0.830 / 0.838 / 0.758 and 0.672 / 0.720 / 0.741 / 0.710): within a 300 s budget a pretrained
  model takes only ~40-50 steps, so the usual 5e-5 barely moves it, while 4e-4 spoils it.

How long to train is not set here at all: ``embed.train.fit`` stops on the held-out slice or the time budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from embed.train.fit import CurvePoint
from embed.train.heldout import HeldoutVectors
from embed.train.pairs import TuneError

DEFAULT_TIME_BUDGET_S = 300.0
RULES = {  # kind -> (lr0, batch divisor, smallest batch, largest batch, most epochs, evaluations per epoch)
    "static": (0.1, 4, 64, 1024, 40, 8),
    "base": (2e-4, 32, 16, 64, 10, 2),
}
REFERENCE_PAIRS = 1000


@dataclass(frozen=True)
class TuneSettings:
    dim: int = 256  # static only
    epochs: int | None = None  # the most epochs (a ceiling; early stopping and the budget end sooner); None: RULES
    batch_size: int | None = None  # None: by the rule
    lr: float | None = None  # None: by the rule
    time_budget: float = DEFAULT_TIME_BUDGET_S  # seconds for the whole training, evaluations included
    patience: int = 3  # held-out evaluations in a row without improvement before stopping
    seed: int = 0
    matryoshka: tuple[int, ...] = ()  # extra (smaller) dims trained with MatryoshkaLoss; () = off
    dropout: bool = False  # --base: train with the model's dropout (twice as slow on a CPU; see base.py)
    max_tokens: int | None = None  # --base: the model's max_seq_length; None: base.fitting_length
    scale: float = 20.0  # MultipleNegativesRankingLoss scale (1 / temperature)
    init_std: float = 1.0  # static: standard deviation of the initial token vectors
    heldout_fraction: float = 0.1  # of the queries, kept out of training, scored during it
    heldout_max: int = 500
    candidates_max: int = 20_000  # passages the held-out queries are ranked against (their own + a sample)

    def check(self) -> None:
        for name in ("dim", "epochs", "batch_size", "patience", "max_tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise TuneError(f"{name.replace('_', '-')} must be at least 1, not {value}")
        if self.batch_size is not None and self.batch_size < 2:
            raise TuneError("batch-size must be at least 2: the other pairs of a batch are the negatives")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise TuneError(f"lr must be a positive number, not {self.lr}")
        if not (math.isfinite(self.time_budget) and self.time_budget > 0):
            raise TuneError(f"time budget must be a positive number of seconds, not {self.time_budget}")
        if not 0 <= self.heldout_fraction < 1:
            raise TuneError(f"held-out fraction must lie in [0, 1), not {self.heldout_fraction}")
        bad = [d for d in self.matryoshka if not 1 <= d <= self.dim]
        if bad:
            raise TuneError(f"matryoshka dims must lie between 1 and --dim ({self.dim}), not {bad}")

    def loss_dims(self) -> tuple[int, ...]:
        return tuple(sorted({self.dim, *self.matryoshka}, reverse=True))

    def scaled(self, train_pairs: int, kind: str = "static") -> TuneSettings:
        """These settings with batch size, learning rate and epochs filled in by the rule for ``train_pairs``."""
        lr0, divisor, smallest, largest, epochs, _ = RULES[kind]
        n = max(1, train_pairs)
        batch = min(largest, max(smallest, 2 ** round(math.log2(max(1.0, n / divisor)))))
        return replace(
            self,
            batch_size=self.batch_size or batch,
            lr=self.lr or lr0 * min(1.0, math.sqrt(REFERENCE_PAIRS / n)),
            epochs=self.epochs or epochs,
        )


def evals_per_epoch(kind: str) -> int:
    return RULES[kind][5]


@dataclass
class TuneReport:
    pairs: int  # distinct pairs given
    train_pairs: int
    heldout_queries: int
    candidates: int  # passages the held-out queries are ranked against
    recall_before: float | None  # held-out Recall@10; None without a held-out slice
    recall_after: float | None  # of the checkpoint kept
    mrr_before: float | None
    mrr_after: float | None
    ndcg_before: float | None  # held-out nDCG@10: what picks the checkpoint
    ndcg_after: float | None
    steps: int
    epochs: float  # epochs run (fractional)
    seconds: float  # the whole training: tokenizing, steps, evaluations
    stopped: str  # "early stopping" | "time budget" | "max epochs"
    best_step: int | None  # the step of the checkpoint kept
    pairs_per_s: float
    final_loss: float
    settings: TuneSettings  # as trained: batch size, lr and epochs filled in
    base: str | None = None  # the pretrained model fine-tuned; None: a static model trained from scratch
    vocab_size: int | None = None
    precision: str = "fp32"  # "bf16": autocast on a CPU with bf16 instructions
    max_tokens: tuple[int, int] | None = None  # --base: the model's max_seq_length (before, as trained and saved)
    hard_negatives: int = 0  # training pairs that carried a hard negative
    epoch_losses: list[float] = field(default_factory=list)
    curve: list[CurvePoint] = field(default_factory=list)  # held-out scores during training
    # the kept checkpoint's held-out vectors (index.evaluate.fusion_pick); left out of reports
    heldout_vectors: HeldoutVectors | None = field(default=None, repr=False, compare=False)
