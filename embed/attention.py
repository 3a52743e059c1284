"""AMX self-attention for bfloat16 encoding on CPU.

Why: with its linears fused (embed/onednn.py), a bfloat16 BERT forward spends about a quarter of its
time in torch's CPU flash attention, which at BERT's sizes (head dimension 32-64, 128-512 tokens)
runs far below what the CPU's AMX units do. ``semsearch_attend`` in bf16_kernels.c computes the same
softmax(Q K^T * scale + mask) V with AMX tile products and an AVX-512 softmax, reading Q, K and V in
place. Measured on all-MiniLM-L6-v2's shapes (32 passages x 12 heads, one thread, 3 x 7 repeats):
1.7-2.4x torch's attention at 128 tokens, 1.5-1.8x at 256; what it gives whole passages/s is in
``python bench/speed.py`` (row "bf16 without AMX attention").

How: the kernel is built and loaded by embed/ckernels.py (compiled once per machine, cached). After
loading, it is checked against torch's attention on a seeded random input and kept only if they agree.
Inside :func:`amx_attention`, Hugging Face models that use torch's SDPA attention are switched to
:func:`amx_sdpa`, registered with transformers' public ``AttentionInterface``; on leaving they are
switched back. A call it cannot take (not bfloat16, several threads, causal, a mask that is not a key
padding mask, an odd head size...) goes to torch's SDPA, so results never depend on the kernel being
there. No compiler, no AMX, or ``SEMSEARCH_AMX_ATTENTION=0``: nothing changes and :class:`Attention`
says why. torch is imported by this module: import it only on paths that already use torch.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from embed.ckernels import KernelUnavailable, load_library, unavailable
from embed.switches import turned_off

OPT_OUT = "SEMSEARCH_AMX_ATTENTION"
NAME = "semsearch_amx"  # the attention implementation's name in transformers' registry
CPU_FLAGS = ("amx_tile", "amx_bf16", "avx512_bf16", "avx512bw")
HEAD_DIMS = (32, 64, 96, 128)
TOLERANCE = 1e-2  # relative L2 error allowed against torch's attention on the same bfloat16 input

_lock = threading.Lock()
_checked_kernels: dict[int, Any] = {}  # id(library) -> its checked attention function, or why not
_active: list[Any] = []  # the function amx_sdpa calls, set while amx_attention is in use


@dataclass(frozen=True)
class Attention:
    """What :func:`amx_attention` did: models switched to the AMX kernel, and why not, if not."""

    models: int = 0
    skipped: str = ""


@contextlib.contextmanager
def amx_attention(roots: Sequence[torch.nn.Module], enabled: bool | None = None) -> Iterator[Attention]:
    """Within the block, Hugging Face models under ``roots`` that use SDPA attention use the AMX kernel.

    ``enabled`` None means: unless the environment says ``SEMSEARCH_AMX_ATTENTION=0`` (or no/false/off).
    """
    reason = why_not(enabled)
    switched: list[Any] = []
    if not reason:
        _active[:] = [load_kernel()]
        switched = _switch(roots)
        reason = "" if switched else "no model here uses torch's SDPA attention"
    try:
        yield Attention(models=len(switched), skipped=reason)
    finally:
        for model in switched:
            model.set_attn_implementation("sdpa")


def why_not(enabled: bool | None = None) -> str:
    """Why the kernel cannot be used here ("" when it can); builds and checks it on first use."""
    unfit = turned_off(OPT_OUT, enabled) or unavailable(CPU_FLAGS)
    if unfit:
        return unfit
    try:
        load_kernel()
    except KernelUnavailable as error:
        return str(error)
    return ""


def load_kernel(cache_dir: Path | None = None) -> Any:
    """The checked ``semsearch_attend`` function, built on first use; raises KernelUnavailable."""
    library = load_library(cache_dir)
    with _lock:
        if id(library) not in _checked_kernels:
            try:
                _checked_kernels[id(library)] = _checked(_attention_function(library))
            except KernelUnavailable as error:
                _checked_kernels[id(library)] = error
        found = _checked_kernels[id(library)]
    if isinstance(found, KernelUnavailable):
        raise found
    return found


def attend(function: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
           key_bias: torch.Tensor | None, scale: float) -> torch.Tensor:
    """softmax(Q K^T * scale + key_bias) V as bfloat16 [B, T, H, D] (inputs [B, H, T, D], see usable)."""
    batch, heads, tokens, dim = query.shape
    out = torch.empty(batch, tokens, heads, dim, dtype=torch.bfloat16)
    bias = None if key_bias is None else key_bias.to(torch.float32).contiguous()
    code = function(query.data_ptr(), *query.stride()[:3], key.data_ptr(), *key.stride()[:3],
                    value.data_ptr(), *value.stride()[:3], batch, heads, tokens, dim,
                    None if bias is None else bias.data_ptr(), float(scale), out.data_ptr())
    if code != 0:
        raise MemoryError(f"AMX attention failed with code {code}")
    return out


def usable(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> bool:
    """True for the self-attention inputs the kernel takes: bf16 CPU [B, H, T, D] views, one thread."""
    tensors = (query, key, value)
    return (all(t.dtype == torch.bfloat16 and t.device.type == "cpu" and not t.requires_grad for t in tensors)
            and query.dim() == 4 and query.shape == key.shape == value.shape and query.shape[-1] in HEAD_DIMS
            and all(t.stride(-1) == 1 for t in tensors) and key.stride(2) % 2 == 0
            and torch.get_num_threads() == 1)


def key_bias_of(mask: torch.Tensor | None, batch: int, tokens: int) -> torch.Tensor | None | bool:
    """The mask as one additive float row per sequence [B, T]; None for no mask; False when the mask
    is anything else than a key padding mask (it differs between query rows, or has another shape)."""
    if mask is None:
        return None
    if mask.dim() != 4 or mask.shape[0] != batch or mask.shape[1] != 1 or mask.shape[3] != tokens:
        return False
    first = mask[:, :, :1, :]
    if mask.shape[2] != 1 and not torch.equal(mask, first.expand_as(mask)):
        return False
    row = first.reshape(batch, tokens)
    if row.dtype == torch.bool:
        return torch.zeros(batch, tokens).masked_fill_(~row, float("-inf"))
    return row.to(torch.float32)


def amx_sdpa(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
             attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
             is_causal: bool | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' SDPA attention function, computed by the AMX kernel where it applies."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    causal = bool(is_causal) or (is_causal is None and getattr(module, "is_causal", False))
    bias = key_bias_of(attention_mask, query.shape[0], query.shape[2]) if usable(query, key, value) else False
    if causal or dropout or bias is False or not _active:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    return attend(_active[0], query, key, value, bias, scale), None


def _switch(roots: Sequence[torch.nn.Module]) -> list[Any]:
    """Set the kernel as the attention of each SDPA model under ``roots``; the models switched."""
    try:
        from transformers import AttentionInterface, PreTrainedModel
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return []
    AttentionInterface.register(NAME, amx_sdpa)
    AttentionMaskInterface.register(NAME, sdpa_mask)  # the masks SDPA gets: the fallback needs them as they are
    switched = []
    for root in roots:
        for model in root.modules():
            if isinstance(model, PreTrainedModel) and model.config._attn_implementation == "sdpa":
                try:
                    model.set_attn_implementation(NAME)
                except (ValueError, KeyError, AttributeError):
                    continue
                if model.config._attn_implementation == NAME:
                    switched.append(model)
    return switched


def _attention_function(library: ctypes.CDLL) -> Any:
    if library.semsearch_amx_ready() != 1:
        raise KernelUnavailable("Linux did not grant this process the AMX tile registers")
    return library.semsearch_attend


def _checked(function: Any) -> Any:
    """``function`` if it agrees with torch's attention on a seeded random input, else KernelUnavailable."""
    generator = torch.Generator().manual_seed(0)
    for tokens, dim in ((37, 32), (70, 64)):
        packed = torch.randn(2, tokens, 3 * 3 * dim, generator=generator).to(torch.bfloat16)
        query, key, value = (t.view(2, tokens, 3, dim).transpose(1, 2) for t in packed.split(3 * dim, dim=-1))
        bias = torch.zeros(2, tokens)
        bias[1, tokens // 2:] = float("-inf")
        keep = torch.isfinite(bias)[:, None, None, :]
        expected = torch.nn.functional.scaled_dot_product_attention(
            query.float(), key.float(), value.float(), attn_mask=keep).transpose(1, 2)
        got = attend(function, query, key, value, bias, dim ** -0.5).float()
        error = float((got - expected).norm() / expected.norm())
        if not error <= TOLERANCE:
            raise KernelUnavailable(f"it disagreed with torch's attention (relative error {error:.3g})")
    return function
