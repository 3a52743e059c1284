"""The training loop both trainers share: held-out evaluation, early stopping, a time budget, the best checkpoint.

The length of training is chosen by the data, not by a fixed epoch count:

- the held-out queries (``embed.train.heldout``) are scored before training and ``evals_per_epoch`` times
  per epoch; the weights with the best held-out nDCG@10 (MRR, then Recall@10 on ties) are kept and put back
  at the end;
- an evaluation that is not better halves the learning rate (reduce on plateau); ``patience`` of them
  in a row stop training (early stopping);
- ``time_budget_s`` bounds the whole run, counted from ``started`` (tokenizing and evaluations included):
  a step is only begun when it and a final evaluation fit in what is left (at least one step is taken);
- ``max_epochs`` is only a ceiling;
- with ``decay`` the learning rate falls linearly to 0 at whichever end comes first, the budget or
  ``max_epochs`` (``schedule``), after the warm-up.

Without a held-out slice (too few queries) it trains ``max_epochs`` within the budget and keeps the last
weights. Nothing here looks at a test split: the held-out queries come out of the training pairs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from embed.train.heldout import HeldoutScore

# step (1-based), steps planned (an estimate: early stopping or the budget may end sooner), mean loss so far
TrainProgress = Callable[[int, int, float], None]
PLATEAU_FACTOR = 0.5


@dataclass(frozen=True)
class FitPlan:
    max_epochs: int
    time_budget_s: float
    lr: float
    patience: int = 3  # evaluations in a row without a better held-out score before stopping
    evals_per_epoch: int = 1
    warmup_steps: int = 0  # the learning rate rises linearly over these first steps
    decay: bool = False  # after warm-up it falls linearly to 0 at the end of the budget (time or epochs)


@dataclass(frozen=True)
class CurvePoint:
    step: int
    epoch: float  # epochs done, fractional
    seconds: float  # since the start of the run
    recall: float  # held-out Recall@10
    mrr: float
    lr: float  # the learning rate the next steps use
    ndcg: float = 0.0  # held-out nDCG@10: picks the checkpoint


@dataclass
class FitResult:
    steps: int = 0
    epochs: float = 0.0
    seconds: float = 0.0  # since ``started``
    stopped: str = "max epochs"  # "early stopping" | "time budget" | "max epochs"
    curve: list[CurvePoint] = field(default_factory=list)
    best: CurvePoint | None = None  # the checkpoint kept (None: no held-out slice, the last weights)
    epoch_losses: list[float] = field(default_factory=list)


class _Clock:
    """Time left, and running estimates of how long one step and one evaluation take."""

    def __init__(self, started: float, budget: float) -> None:
        self.started, self.budget = started, budget
        self.step_s = 0.0
        self.eval_s = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def room_for_step(self) -> bool:
        return self.elapsed() + self.step_s + self.eval_s <= self.budget

    def timed(self, attr: str, call: Callable[[], Any]) -> Any:
        begun = time.perf_counter()
        value = call()
        spent = time.perf_counter() - begun
        setattr(self, attr, max(spent, 0.8 * getattr(self, attr) + 0.2 * spent) if getattr(self, attr) else spent)
        return value


def fit(
    model, optimizer, plan: FitPlan, epochs: Callable[[int], Sequence[Any]], step: Callable[[Any], float],
    evaluate: Callable[[], HeldoutScore | None], started: float, progress: TrainProgress | None = None,
) -> FitResult:
    """Train ``model`` with ``step(batch) -> loss`` over ``epochs(n)``'s batches by the rules above."""
    import torch

    clock, result = _Clock(started, plan.time_budget_s), FitResult()
    lr, bad = plan.lr, 0
    best_state = None

    def check() -> bool:
        """Score the held-out slice; True when training should stop (early stopping)."""
        nonlocal lr, bad, best_state
        score = clock.timed("eval_s", evaluate)
        if score is None:
            return False
        improved = score.better_than(result.best)
        if improved:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            bad = 0
        elif result.curve:
            bad += 1
            lr *= PLATEAU_FACTOR
        point = CurvePoint(result.steps, result.epochs, clock.elapsed(), score.recall, score.mrr, lr, score.ndcg)
        result.curve.append(point)
        result.best = point if improved else result.best
        return bad >= plan.patience

    stop = check()
    for epoch in range(plan.max_epochs):
        if stop:
            break
        batches = epochs(epoch)
        marks = eval_marks(len(batches), plan.evals_per_epoch)
        losses: list[float] = []
        for done, batch in enumerate(batches, start=1):
            if result.steps and not clock.room_for_step():
                result.stopped, stop = "time budget", True
                break
            factor = schedule(plan, result.steps, len(batches), clock)
            for group in optimizer.param_groups:
                group["lr"] = lr * factor
            model.train()
            losses.append(clock.timed("step_s", lambda: step(batch)))
            result.steps += 1
            result.epochs = epoch + done / len(batches)
            if progress is not None:
                progress(result.steps, planned_steps(plan, len(batches), clock), sum(losses) / len(losses))
            if done in marks and check():
                result.stopped, stop = "early stopping", True
                break
        if losses:
            result.epoch_losses.append(sum(losses) / len(losses))
    if result.curve and result.curve[-1].step != result.steps:
        check()  # the weights training ended with are a candidate too
    model.eval()
    if best_state is not None:
        with torch.no_grad():
            model.load_state_dict(best_state)
    result.seconds = clock.elapsed()
    return result


def schedule(plan: FitPlan, steps_done: int, per_epoch: int, clock: _Clock) -> float:
    """The learning rate's factor for the next step: linear warm-up, then 1, or with ``decay`` a linear fall
    to 0 at whichever end comes first, the time budget or ``max_epochs``."""
    if plan.warmup_steps and steps_done < plan.warmup_steps:
        return (steps_done + 1) / plan.warmup_steps
    if not plan.decay:
        return 1.0
    room = max(1e-9, plan.time_budget_s - clock.eval_s)  # the last step ends before the final evaluation
    done = max(clock.elapsed() / room, steps_done / max(1, plan.max_epochs * per_epoch))
    return max(0.0, 1.0 - done)


def eval_marks(steps: int, evals_per_epoch: int) -> set[int]:
    """The steps of an epoch (1-based) after which the held-out slice is scored: evenly spaced, the last included."""
    count = max(1, min(steps, evals_per_epoch))
    return {math.ceil(steps * (i + 1) / count) for i in range(count)}


def planned_steps(plan: FitPlan, per_epoch: int, clock: _Clock) -> int:
    """Steps the run would take without early stopping: the epochs, or what fits in the budget if fewer."""
    most = plan.max_epochs * per_epoch
    if clock.step_s <= 0:
        return most
    return max(1, min(most, int(plan.time_budget_s / (clock.step_s + clock.eval_s / max(1, plan.evals_per_epoch)))))
