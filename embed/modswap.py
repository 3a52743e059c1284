"""Putting a replacement module into a model only where it agrees, and taking it out again: shared by the
bf16 kernels that swap modules (embed/onednn.py, embed/addnorm.py)."""

from __future__ import annotations

import torch

TOLERANCE = 1e-2  # relative L2 error allowed between a replacement and the original, both in bfloat16


def agrees(got: torch.Tensor, expected: torch.Tensor) -> bool:
    """``got`` is finite and within TOLERANCE (relative L2) of ``expected``."""
    return bool(torch.isfinite(got).all()) and float((got - expected).norm()) <= TOLERANCE * float(expected.norm())


def restore(swaps: list[tuple[torch.nn.Module, str, torch.nn.Module]]) -> None:
    """Put back each (owner, attribute, original), the last swap first."""
    for owner, attr, original in reversed(swaps):
        setattr(owner, attr, original)
