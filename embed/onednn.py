"""Fused oneDNN linears for bfloat16 encoding on CPU.

Why: ``torch.nn.functional.linear`` on a bfloat16 CPU tensor runs ``addmm``, which first copies the bias
into every row of the output and then lets oneDNN's matrix product add to it, and the GELU after a
transformer block's first feed-forward linear is one more pass over its (tokens x 1536) output. oneDNN
can add the bias and apply the GELU inside the product. Measured on all-MiniLM-L6-v2's architecture,
256 passages of exactly 128 / 256 tokens, fused against plain in 8 interleaved rounds: through semsearch
(a batch per core) +13% / +18% passages/s (medians of the per-round ratios), a bare forward pass on one
thread (12 rounds) +28% / +24%; the bias copies alone were 13% of a forward pass. ``python bench/speed.py`` times
both in the same rounds (row "bf16 without fused linears").

What: inside :func:`fused_linears`, every bfloat16 CPU ``nn.Linear`` under the given modules is replaced
by a :class:`FusedLinear` sharing its weight and bias, and a feed-forward block of the form
``intermediate_act_fn(dense(x))`` (BERT's ``BertIntermediate`` and its relatives) whose activation is a
GELU gets the GELU fused into ``dense``. Every replacement is checked on a random input against what it
replaces and kept only when the two agree; on leaving, the original modules are put back.

The op is ``torch.ops.mkldnn._linear_pointwise``, the one torch's own compiler (inductor with freezing)
emits for CPU linears. It is not a documented API, so nothing depends on it: where it is missing, fails
or disagrees, the model is left as it is and :class:`Fusion` says why. ``SEMSEARCH_FUSED_LINEARS=0``
(or no/false/off, read by embed/switches.py like every such switch) turns the fusion off. torch is
imported by this module: import it only on paths that already use torch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from embed.modswap import agrees, restore
from embed.switches import turned_off

OPT_OUT = "SEMSEARCH_FUSED_LINEARS"
GELU_KINDS = ("none", "tanh")  # torch's names for the exact (erf) GELU and its tanh approximation
PROBE_SHAPE = (2, 3)  # leading dimensions of the random input each replacement is checked on


@dataclass(frozen=True)
class Fusion:
    """What :func:`fused_linears` did: linears replaced, how many of them with a GELU, and why not, if not."""

    linears: int = 0
    gelus: int = 0
    skipped: str = ""


class FusedLinear(torch.nn.Module):
    """``nn.Linear`` (optionally followed by GELU) as one oneDNN product; shares the original's parameters."""

    def __init__(self, linear: torch.nn.Linear, gelu: str | None = None) -> None:
        super().__init__()
        self.weight = linear.weight
        self.bias = linear.bias
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.post, self.algorithm = ("gelu", gelu) if gelu else ("none", "")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        out = linear_pointwise()(rows, self.weight, self.bias, self.post, [], self.algorithm)
        return out.view(*x.shape[:-1], out.shape[-1])

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, post={self.post}"


def linear_pointwise():
    """The oneDNN op (AttributeError or RuntimeError where this torch build lacks it)."""
    return torch.ops.mkldnn._linear_pointwise


@contextlib.contextmanager
def fused_linears(roots: Sequence[torch.nn.Module], enabled: bool | None = None) -> Iterator[Fusion]:
    """Within the block, the bfloat16 CPU linears under ``roots`` are fused oneDNN products (see above).

    ``enabled`` None means: unless the environment says ``SEMSEARCH_FUSED_LINEARS=0`` (or no/false/off).
    """
    undo: list[tuple[torch.nn.Module, str, torch.nn.Module]] = []
    reason = why_not(enabled)
    fusion = Fusion(skipped=reason) if reason else _fuse(roots, undo)
    try:
        yield fusion
    finally:
        restore(undo)


def why_not(enabled: bool | None = None) -> str:
    """Why nothing can be fused here ("" when it can)."""
    off = turned_off(OPT_OUT, enabled)
    if off:
        return off
    if not torch.backends.mkldnn.is_available():
        return "this torch build has no oneDNN"
    try:
        linear_pointwise()
    except (AttributeError, RuntimeError):
        return "this torch build has no torch.ops.mkldnn._linear_pointwise"
    return ""


def _fuse(roots: Sequence[torch.nn.Module], undo: list) -> Fusion:
    """Replace what agrees with its original; record each replacement in ``undo``."""
    gelus = linears = 0
    with torch.inference_mode():
        try:
            for root in roots:
                for block, kind in [(m, _gelu_block_kind(m)) for m in root.modules()]:
                    if kind:
                        gelus += _swap_checked(block, undo, gelu=kind)
                for parent in list(root.modules()):
                    for name, child in list(parent.named_children()):
                        if isinstance(child, torch.nn.Linear) and _bf16_cpu(child):
                            linears += _swap_checked(parent, undo, name=name)
        except Exception as error:  # the op failed outright: keep nothing
            restore(undo)
            undo.clear()
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            return Fusion(skipped=f"oneDNN linear failed: {first_line[:200]}")
    if not linears + gelus:
        return Fusion(skipped="no bfloat16 CPU linears agreed with their fused form")
    return Fusion(linears=linears + gelus, gelus=gelus)


def _swap_checked(parent: torch.nn.Module, undo: list, *, name: str = "", gelu: str | None = None) -> int:
    """Replace ``parent.<name>`` (or, with ``gelu``, parent's dense + activation); 1 if it agreed, else 0."""
    dense = getattr(parent, name or "dense")
    target = parent if gelu else dense
    probe = torch.randn(*PROBE_SHAPE, dense.in_features, generator=torch.Generator().manual_seed(0))
    probe = probe.to(dense.weight.dtype)
    expected = target(probe).float()
    if gelu:
        swaps = [(parent, "dense", dense), (parent, "intermediate_act_fn", parent.intermediate_act_fn)]
        parent.dense, parent.intermediate_act_fn = FusedLinear(dense, gelu), torch.nn.Identity()
    else:
        swaps = [(parent, name, dense)]
        setattr(parent, name, FusedLinear(dense))
    try:
        got = (parent if gelu else getattr(parent, name))(probe).float()
    except Exception:
        restore(swaps)
        raise
    if not agrees(got, expected):
        restore(swaps)
        return 0
    undo.extend(swaps)
    return 1


def _gelu_block_kind(module: torch.nn.Module) -> str | None:
    """The GELU kind of a module whose children are exactly ``dense`` (bf16 CPU linear) and a GELU
    ``intermediate_act_fn``; None for any other module."""
    children = dict(module.named_children())
    if set(children) != {"dense", "intermediate_act_fn"} or not isinstance(children["dense"], torch.nn.Linear):
        return None
    return _gelu_kind(children["intermediate_act_fn"]) if _bf16_cpu(children["dense"]) else None


def _gelu_kind(act: torch.nn.Module) -> str | None:
    """"none" (exact GELU) or "tanh" when ``act`` computes that GELU on a float32 probe, else None."""
    x = torch.linspace(-6.0, 6.0, 241)
    try:
        y = act(x)
    except Exception:
        return None
    for kind in GELU_KINDS:
        if isinstance(y, torch.Tensor) and y.shape == x.shape and torch.allclose(y, F.gelu(x, approximate=kind),
                                                                                 rtol=0, atol=1e-5):
            return kind
    return None


def _bf16_cpu(linear: torch.nn.Linear) -> bool:
    return linear.weight.dtype == torch.bfloat16 and linear.weight.device.type == "cpu"
