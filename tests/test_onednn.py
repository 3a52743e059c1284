"""embed/onednn.py: fused oneDNN linears agree with nn.Linear (+ GELU), are put back on exit, and are
skipped, never half-applied, where they are off, unavailable, failing or disagreeing."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from embed import onednn  # noqa: E402
from embed.onednn import FusedLinear, Fusion, fused_linears, why_not  # noqa: E402

TEXTS = [f"passage {i} about rivers, valleys and the sea " * (1 + i % 4) for i in range(9)]


@pytest.fixture(autouse=True)
def fusion_on(monkeypatch):
    monkeypatch.delenv(onednn.OPT_OUT, raising=False)


def needs_op() -> None:
    reason = why_not(True)
    if reason:
        pytest.skip(f"fused linears cannot run here: {reason}")


def tiny_bert(dtype=torch.bfloat16, layers: int = 2):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    return BertModel(config).eval().to(dtype)


def run(model) -> torch.Tensor:
    ids = torch.arange(2 * 16).reshape(2, 16) % 100
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.float()


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got.float() - expected.float()).norm() / expected.float().norm())


def modules_of(model) -> dict:
    return dict(model.named_modules())


@pytest.mark.parametrize("gelu", [None, "none", "tanh"])
@pytest.mark.parametrize("shape", [(7, 24), (2, 5, 24)])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_linear_matches_linear_and_gelu_in_float32(gelu, shape, bias):
    needs_op()
    torch.manual_seed(1)
    linear = torch.nn.Linear(24, 40, bias=bias).to(torch.bfloat16)
    x = torch.randn(*shape).to(torch.bfloat16)
    with torch.inference_mode():
        expected = torch.nn.functional.linear(x.float(), linear.weight.float(), linear.bias.float() if bias else None)
        if gelu:
            expected = torch.nn.functional.gelu(expected, approximate=gelu)
        got = FusedLinear(linear, gelu)(x)
    assert got.shape == (*shape[:-1], 40) and got.dtype == torch.bfloat16
    assert relative_error(got, expected) < 1e-2


def test_bert_linears_are_fused_then_put_back():
    needs_op()
    model = tiny_bert()
    before, plain = modules_of(model), run(model)
    linears = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    with fused_linears([model]) as fusion:
        assert fusion == Fusion(linears=linears, gelus=2)
        assert not any(isinstance(m, torch.nn.Linear) for m in model.modules())
        assert all(isinstance(layer.intermediate.intermediate_act_fn, torch.nn.Identity) for layer in model.encoder.layer)
        fused = run(model)
    assert relative_error(fused, plain) < 2e-2 and not torch.equal(fused, plain)
    after = modules_of(model)
    assert after.keys() == before.keys() and all(after[k] is v for k, v in before.items())
    assert torch.equal(run(model), plain)


@pytest.mark.parametrize("env, enabled, dtype, reason", [
    ("0", None, torch.bfloat16, "turned off (SEMSEARCH_FUSED_LINEARS=0)"),
    (" Off ", None, torch.bfloat16, "turned off (SEMSEARCH_FUSED_LINEARS=Off)"),
    (None, False, torch.bfloat16, "turned off"),
    ("1", False, torch.bfloat16, "turned off"),
    (None, None, torch.float32, "no bfloat16 CPU linears agreed with their fused form"),
])
def test_nothing_is_fused_when_off_or_not_bf16(monkeypatch, env, enabled, dtype, reason):
    if env is not None:
        monkeypatch.setenv(onednn.OPT_OUT, env)
    if dtype == torch.float32:
        needs_op()  # where the op is missing, that is the reason given instead
    model = tiny_bert(dtype)
    before = modules_of(model)
    with fused_linears([model], enabled) as fusion:
        assert fusion == Fusion(skipped=reason)
        assert modules_of(model) == before


class Intermediate(torch.nn.Module):
    """Shaped like BertIntermediate: ``intermediate_act_fn(dense(x))``, or the activation first (``before``)."""

    def __init__(self, act: torch.nn.Module, before: bool = False) -> None:
        super().__init__()
        self.dense = torch.nn.Linear(16, 16).to(torch.bfloat16)
        self.intermediate_act_fn = act
        self.before = before

    def forward(self, x):
        if self.before:
            return self.dense(self.intermediate_act_fn(x))
        return self.intermediate_act_fn(self.dense(x))


@pytest.mark.parametrize("act, before, gelus", [
    (torch.nn.GELU(), False, 1),
    (torch.nn.GELU("tanh"), False, 1),
    (torch.nn.ReLU(), False, 0),          # not a GELU: never tried
    (torch.nn.SiLU(), False, 0),
    (torch.nn.GELU(), True, 0),           # fusing would change the result: rejected by the check
    (torch.nn.GELU("tanh"), True, 0),
])
def test_gelu_is_fused_only_where_the_result_stays_the_same(act, before, gelus):
    needs_op()
    block = Intermediate(act, before)
    x = torch.randn(3, 16).to(torch.bfloat16)
    with torch.inference_mode():
        expected = block(x)
    with fused_linears([block]) as fusion, torch.inference_mode():
        assert fusion == Fusion(linears=1, gelus=gelus) and isinstance(block.dense, FusedLinear)
        assert (block.intermediate_act_fn is act) == (gelus == 0)
        assert relative_error(block(x), expected) < 1e-2
    assert block.intermediate_act_fn is act and isinstance(block.dense, torch.nn.Linear)


def test_an_op_that_fails_leaves_the_model_as_it_was(monkeypatch):
    def broken(*args):
        raise RuntimeError("could not create a primitive\nmore detail")

    monkeypatch.setattr(onednn, "linear_pointwise", lambda: broken)
    model = tiny_bert()
    before, plain = modules_of(model), run(model)
    with fused_linears([model]) as fusion:
        assert fusion == Fusion(skipped="oneDNN linear failed: could not create a primitive")
        assert modules_of(model) == before
        assert torch.equal(run(model), plain)


def test_an_op_that_disagrees_is_not_kept(monkeypatch):
    needs_op()
    real = onednn.linear_pointwise()
    monkeypatch.setattr(onednn, "linear_pointwise", lambda: lambda *a: real(*a) * 1.1)
    model = tiny_bert()
    before = modules_of(model)
    with fused_linears([model]) as fusion:
        assert fusion.skipped == "no bfloat16 CPU linears agreed with their fused form"
        assert modules_of(model) == before


def test_a_torch_without_the_op_is_named(monkeypatch):
    def missing():
        raise AttributeError("_linear_pointwise")

    monkeypatch.setattr(onednn, "linear_pointwise", missing)
    assert why_not() == "this torch build has no torch.ops.mkldnn._linear_pointwise"
    with fused_linears([tiny_bert()]) as fusion:
        assert fusion.linears == 0 and "no torch.ops.mkldnn" in fusion.skipped


@pytest.mark.parametrize("workers", [1, 2])
def test_bf16_encoding_runs_fused_and_agrees_with_unfused(tiny_bert_dir, workers):
    needs_op()
    from embed.encoders import load_encoder
    from embed.export import precision_context

    encoder = load_encoder(str(tiny_bert_dir))
    encoder.workers = workers
    full = encoder.encode_documents(TEXTS, batch_size=4)
    with precision_context(encoder, "bf16", fuse=False) as kernels:
        assert kernels.fusion.skipped == "turned off"
        plain = encoder.encode_documents(TEXTS, batch_size=4)
    with precision_context(encoder, "bf16") as kernels:
        assert kernels.fusion.linears > 0 and kernels.fusion.gelus == 2
        assert any(isinstance(m, FusedLinear) for m in encoder.model.modules())
        fused = encoder.encode_documents(TEXTS, batch_size=4)
    assert not any(isinstance(m, FusedLinear) for m in encoder.model.modules())
    assert np.min(np.sum(fused * plain, axis=1)) > 0.999 and np.min(np.sum(fused * full, axis=1)) > 0.99
    np.testing.assert_array_equal(encoder.encode_documents(TEXTS, batch_size=4), full)
    with precision_context(encoder, "fp32") as kernels:
        assert kernels is None
