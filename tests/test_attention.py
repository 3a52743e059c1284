"""embed/attention.py: the AMX attention kernel agrees with torch's attention, takes only the calls it
can, leaves oneDNN's AMX state alone, is switched off and back cleanly, and says why when it cannot run."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from embed import attention, ckernels  # noqa: E402
from embed.attention import KernelUnavailable, amx_attention, amx_sdpa, key_bias_of, load_kernel, why_not  # noqa: E402

TEXTS = [f"passage {i} about rivers, valleys and the sea " * (1 + i % 5) for i in range(11)]


@pytest.fixture(autouse=True)
def attention_on(monkeypatch):
    monkeypatch.delenv(attention.OPT_OUT, raising=False)


def kernel():
    """The kernel; skips where the machine cannot run it, fails where it runs but disagrees with torch."""
    reason = why_not(True)
    if "disagreed" in reason:
        pytest.fail(f"the AMX attention kernel is wrong: {reason}")
    if reason:
        pytest.skip(f"AMX attention cannot run here: {reason}")
    return load_kernel()


def qkv(batch: int, heads: int, tokens: int, dim: int, seed: int = 0):
    """bf16 [B, H, T, D] views into one packed [B, T, 3*H*D] tensor, as a BERT layer produces them."""
    packed = torch.randn(batch, tokens, 3 * heads * dim, generator=torch.Generator().manual_seed(seed))
    packed = packed.to(torch.bfloat16)
    return [t.view(batch, tokens, heads, dim).transpose(1, 2) for t in packed.split(heads * dim, dim=-1)]


def reference(query, key, value, keep=None) -> torch.Tensor:
    mask = None if keep is None else keep[:, None, None, :]
    out = torch.nn.functional.scaled_dot_product_attention(query.float(), key.float(), value.float(), attn_mask=mask)
    return out.transpose(1, 2)


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got.float() - expected.float()).norm() / expected.float().norm())


def padding(batch: int, tokens: int) -> torch.Tensor:
    keep = torch.ones(batch, tokens, dtype=torch.bool)
    keep[0, max(1, tokens // 2):] = False  # the first sequence is half padding
    return keep


@pytest.mark.parametrize("batch,heads,tokens,dim", [
    (1, 1, 1, 32), (2, 3, 7, 32), (2, 2, 16, 32), (2, 2, 17, 64), (3, 12, 128, 32), (2, 4, 129, 64),
    (1, 2, 300, 32), (2, 2, 33, 96), (2, 2, 40, 128), (1, 2, 512, 64),
])
@pytest.mark.parametrize("masked", [False, True])
def test_kernel_matches_float32_attention(batch, heads, tokens, dim, masked):
    function = kernel()
    query, key, value = qkv(batch, heads, tokens, dim)
    keep = padding(batch, tokens) if masked else None
    bias = None if keep is None else torch.zeros(batch, tokens).masked_fill_(~keep, -math.inf)
    got = attention.attend(function, query, key, value, bias, dim ** -0.5)
    assert got.shape == (batch, tokens, heads, dim) and got.is_contiguous()
    expected = reference(query, key, value, keep)
    torch_bf16 = reference(query, key, value, keep).to(torch.bfloat16)
    assert relative_error(got, expected) < 1e-2
    assert relative_error(got, expected) < 2 * relative_error(torch_bf16, expected) + 1e-3


def test_kernel_leaves_onednn_amx_products_intact():
    function = kernel()
    from embed.onednn import FusedLinear

    torch.manual_seed(0)
    linear = FusedLinear(torch.nn.Linear(384, 1536).to(torch.bfloat16), "none")
    x = torch.randn(4096, 384).to(torch.bfloat16)
    with torch.inference_mode():
        before = linear(x)
        attention.attend(function, *qkv(2, 2, 64, 32), None, 0.2)
        after = linear(x)
    assert torch.equal(before, after)


@pytest.mark.parametrize("mask,expected", [
    (None, None),
    (torch.ones(2, 1, 5, 5, dtype=torch.bool), torch.zeros(2, 5)),
    (torch.tensor([True, True, False]).expand(2, 1, 3, 3), torch.tensor([[0.0, 0.0, -math.inf]] * 2)),
    (torch.tensor([0.0, -1e30, 0.0]).expand(2, 1, 1, 3), torch.tensor([[0.0, -1e30, 0.0]] * 2)),
    (torch.tril(torch.ones(3, 3, dtype=torch.bool)).expand(2, 1, 3, 3), False),  # not a key padding mask
    (torch.ones(2, 3, dtype=torch.bool), False),  # 2-D: not what SDPA gets
    (torch.ones(2, 2, 3, 3, dtype=torch.bool), False),  # a mask per head
])
def test_key_bias_of(mask, expected):
    got = key_bias_of(mask, 2, mask.shape[-1] if mask is not None else 5)
    if expected is None or expected is False:
        assert got is expected
    else:
        assert torch.equal(got, expected)


def fake_module(causal: bool = False):
    module = torch.nn.Module()
    module.is_causal = causal
    return module


@pytest.mark.parametrize("case", ["two threads", "causal", "dropout", "float32", "head size 16", "other mask"])
def test_calls_the_kernel_cannot_take_go_to_sdpa(case, monkeypatch):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    called = []
    monkeypatch.setattr(attention, "attend", lambda *a: called.append(a))
    monkeypatch.setattr(attention, "_active", [object()])
    query, key, value = qkv(2, 2, 9, 16 if case == "head size 16" else 32)
    mask = torch.tril(torch.ones(9, 9, dtype=torch.bool)).expand(2, 1, 9, 9) if case == "other mask" else None
    if case == "float32":
        query, key, value = query.float(), key.float(), value.float()
    kwargs = {"dropout": 0.1 if case == "dropout" else 0.0, "scaling": 0.25}
    threads = torch.get_num_threads()
    torch.set_num_threads(2 if case == "two threads" else 1)
    try:
        with torch.inference_mode():
            got, _ = amx_sdpa(fake_module(case == "causal"), query, key, value, mask, **kwargs)
    finally:
        torch.set_num_threads(threads)
    assert not called
    if case != "dropout":  # dropout draws random numbers: compare the others exactly
        with torch.inference_mode():
            expected, _ = sdpa_attention_forward(fake_module(case == "causal"), query, key, value, mask, **kwargs)
        assert torch.equal(got, expected)


def tiny_bert(hidden: int = 64, heads: int = 2):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=hidden, num_hidden_layers=2, num_attention_heads=heads,
                        intermediate_size=2 * hidden, max_position_embeddings=64)
    return BertModel(config).eval().to(torch.bfloat16)


def test_model_switched_agrees_and_is_switched_back(monkeypatch):
    kernel()
    model = tiny_bert()
    ids = torch.arange(3 * 20).reshape(3, 20) % 100
    keep = torch.ones_like(ids)
    keep[1, 12:] = 0
    calls = []
    real = attention.attend
    monkeypatch.setattr(attention, "attend", lambda *a: calls.append(1) or real(*a))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            expected = model(input_ids=ids, attention_mask=keep).last_hidden_state.float()
            with amx_attention([model]) as switched:
                assert switched.models == 1 and not switched.skipped
                assert model.config._attn_implementation == attention.NAME
                got = model(input_ids=ids, attention_mask=keep).last_hidden_state.float()
            after = model(input_ids=ids, attention_mask=keep).last_hidden_state.float()
    finally:
        torch.set_num_threads(threads)
    assert calls and model.config._attn_implementation == "sdpa"
    assert torch.equal(after, expected)
    live = keep.bool()
    assert torch.nn.functional.cosine_similarity(got[live], expected[live], dim=-1).min() > 0.999


@pytest.mark.parametrize("enabled,env,words", [
    (False, None, "turned off"),
    (None, "0", "turned off (SEMSEARCH_AMX_ATTENTION=0)"),
    (None, "off", "turned off (SEMSEARCH_AMX_ATTENTION=off)"),
    (True, "0", ""),  # an explicit True wins over the environment
])
def test_switches(enabled, env, words, monkeypatch):
    if env is not None:
        monkeypatch.setenv(attention.OPT_OUT, env)
    if words == "":
        kernel()
    assert why_not(enabled) == words
    model = tiny_bert()
    with amx_attention([model], enabled) as switched:
        assert (switched.models == 0) == bool(words)
        assert switched.skipped == words
    assert model.config._attn_implementation == "sdpa"


def test_cpu_without_amx_is_named(monkeypatch):
    monkeypatch.setattr(ckernels, "cpu_flags", lambda: frozenset({"avx512bw", "avx512_bf16"}))
    assert why_not(True) == "this CPU lacks amx_tile, amx_bf16"


def test_kernel_that_disagrees_is_refused():
    def wrong(*args):  # returns success but never writes its output
        return 0

    with pytest.raises(KernelUnavailable, match="disagreed with torch's attention"):
        attention._checked(wrong)


def test_kernel_is_built_once_into_the_cache(tmp_path):
    kernel()
    first = load_kernel(tmp_path)
    built = list(tmp_path.glob("bf16_kernels-*.so"))
    assert len(built) == 1 and load_kernel(tmp_path) is first


@pytest.fixture(scope="module")
def head32_model_dir(tmp_path_factory):
    """A tiny BERT whose heads have 32 dimensions, the smallest the kernel takes."""
    from tests.modelkit import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert-64", hidden=64)


@pytest.mark.parametrize("workers", [1, 2])
def test_bf16_encoding_uses_the_kernels_and_agrees(head32_model_dir, workers, monkeypatch):
    kernel()
    from embed.encoders import load_encoder
    from embed.export import precision_context

    encoder = load_encoder(str(head32_model_dir))
    encoder.workers = workers
    full = encoder.encode_documents(TEXTS, batch_size=4)
    with precision_context(encoder, "bf16", attention=False) as kernels:
        assert kernels.attention.skipped == "turned off"
        plain = encoder.encode_documents(TEXTS, batch_size=4)
    calls = []
    real = attention.attend
    monkeypatch.setattr(attention, "attend", lambda *a: calls.append(1) or real(*a))
    with precision_context(encoder, "bf16") as kernels:
        assert kernels.attention.models == 1 and kernels.add_norm.blocks == 4 and kernels.fusion.linears > 0
        amx = encoder.encode_documents(TEXTS, batch_size=4)
    if workers == 2:  # one thread per batch: the kernel's case (one batch on two threads stays with SDPA)
        assert calls
    assert np.min(np.sum(amx * plain, axis=1)) > 0.999 and np.min(np.sum(amx * full, axis=1)) > 0.99
    np.testing.assert_array_equal(encoder.encode_documents(TEXTS, batch_size=4), full)
