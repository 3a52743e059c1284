"""Residual add + LayerNorm in one pass for bfloat16 encoding on CPU.

Why: every BERT layer ends its attention and its feed-forward part with ``LayerNorm(dense(h) + x)``.
In bfloat16 torch runs that as an add (one pass writing a new tensor) and a LayerNorm (which converts
to float32 and reads the sum twice): with linears fused and attention on AMX, 9% + 5% of a forward
pass (all-MiniLM-L6-v2's shapes, 32 x 128 tokens, one thread). ``semsearch_add_layer_norm`` in
bf16_kernels.c reads both inputs once, adds and normalises in float32 (the sum is not rounded to
bfloat16 first) and writes bfloat16: 2.3-2.5x torch's add + LayerNorm on (4096 x 384) rows.

What: inside :func:`fused_add_norm`, each block shaped like BERT's output blocks (children exactly
``dense``, ``dropout`` and ``LayerNorm``, called as ``block(hidden_states, input_tensor)``) is replaced
in its parent by an :class:`AddNormBlock` sharing its modules; each replacement is checked on a seeded
random input against the block it replaces and kept only if they agree; on leaving, the original blocks
are put back. A call it cannot take (not bfloat16 or CPU, an odd width, autograd) runs the original
block. The kernel comes from embed/ckernels.py; ``SEMSEARCH_FUSED_ADD_NORM=0`` turns this off.
torch is imported by this module: import it only on paths that already use torch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from embed.ckernels import load_library, unavailable
from embed.modswap import agrees, restore
from embed.switches import turned_off

OPT_OUT = "SEMSEARCH_FUSED_ADD_NORM"
CHILDREN = {"dense", "dropout", "LayerNorm"}
PROBE_ROWS = (2, 5)


@dataclass(frozen=True)
class AddNorm:
    """What :func:`fused_add_norm` did: output blocks replaced, and why not, if not."""

    blocks: int = 0
    skipped: str = ""


class AddNormBlock(torch.nn.Module):
    """``LayerNorm(dropout(dense(h)) + x)`` with the add and the LayerNorm in one kernel (eval mode)."""

    def __init__(self, block: torch.nn.Module, function: Any) -> None:
        super().__init__()
        self.dense, self.dropout, self.LayerNorm = block.dense, block.dropout, block.LayerNorm
        self.function = function
        self.train(block.training)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        hidden = self.dense(hidden_states)
        if not self.takes(hidden, input_tensor):
            return self.LayerNorm(self.dropout(hidden) + input_tensor)
        return add_layer_norm(self.function, hidden, input_tensor, self.LayerNorm)

    def takes(self, hidden: torch.Tensor, residual: torch.Tensor) -> bool:
        """True when the kernel computes this call: bfloat16 CPU rows of one shape, no autograd, eval mode."""
        norm = self.LayerNorm
        return (not self.training and not torch.is_grad_enabled() and hidden.device.type == "cpu"
                and hidden.dtype == residual.dtype == norm.weight.dtype == torch.bfloat16
                and hidden.shape == residual.shape and hidden.shape[-1] == norm.normalized_shape[0]
                and hidden.shape[-1] % 16 == 0 and hidden.shape[-1] <= 8192)


def add_layer_norm(function: Any, x: torch.Tensor, residual: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
    """``norm(x + residual)`` by the kernel (bfloat16 CPU tensors of one shape, see AddNormBlock.takes)."""
    x, residual = x.contiguous(), residual.contiguous()
    out = torch.empty_like(x)
    cols = x.shape[-1]
    code = function(x.data_ptr(), residual.data_ptr(), norm.weight.data_ptr(), norm.bias.data_ptr(),
                    float(norm.eps), x.numel() // cols, cols, out.data_ptr())
    if code != 0:
        raise ValueError(f"add + LayerNorm kernel refused its input (code {code})")
    return out


@contextlib.contextmanager
def fused_add_norm(roots: Sequence[torch.nn.Module], enabled: bool | None = None) -> Iterator[AddNorm]:
    """Within the block, BERT-style output blocks under ``roots`` add and normalise in one kernel.

    ``enabled`` None means: unless the environment says ``SEMSEARCH_FUSED_ADD_NORM=0`` (or no/false/off).
    """
    reason = why_not(enabled)
    undo: list[tuple[torch.nn.Module, str, torch.nn.Module]] = []
    if not reason:
        function = load_library().semsearch_add_layer_norm
        with torch.inference_mode():
            for root in roots:
                for parent in list(root.modules()):
                    for name, child in list(parent.named_children()):
                        if _is_output_block(child) and _agrees(AddNormBlock(child, function), child):
                            setattr(parent, name, AddNormBlock(child, function))
                            undo.append((parent, name, child))
        reason = "" if undo else "no bfloat16 output block agreed with its fused form"
    try:
        yield AddNorm(blocks=len(undo), skipped=reason)
    finally:
        restore(undo)


def why_not(enabled: bool | None = None) -> str:
    """Why nothing can be fused here ("" when it can); builds the kernels on first use."""
    return turned_off(OPT_OUT, enabled) or unavailable()


def _is_output_block(module: torch.nn.Module) -> bool:
    children = dict(module.named_children())
    if set(children) != CHILDREN or not isinstance(children["LayerNorm"], torch.nn.LayerNorm):
        return False
    norm = children["LayerNorm"]
    return (norm.weight is not None and norm.bias is not None and norm.weight.dtype == torch.bfloat16
            and norm.weight.device.type == "cpu" and len(norm.normalized_shape) == 1)


def _agrees(fused: AddNormBlock, block: torch.nn.Module) -> bool:
    """The fused block agrees with ``block`` on a seeded random input (it must also be one it takes)."""
    generator = torch.Generator().manual_seed(0)
    width_in, width = block.dense.in_features, block.LayerNorm.normalized_shape[0]
    hidden = torch.randn(*PROBE_ROWS, width_in, generator=generator).to(torch.bfloat16)
    residual = torch.randn(*PROBE_ROWS, width, generator=generator).to(torch.bfloat16)
    try:
        if not fused.takes(block.dense(hidden), residual):
            return False
        expected = block(hidden, residual).float()
        got = fused(hidden, residual).float()
    except Exception:  # any failure: keep the original block
        return False
    return agrees(got, expected)
