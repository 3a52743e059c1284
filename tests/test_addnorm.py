"""embed/addnorm.py: the add + LayerNorm kernel agrees with float32, output blocks are replaced only where
they agree and put back on exit, calls it cannot take run the original block, and switches are obeyed."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from embed import addnorm  # noqa: E402
from embed.addnorm import AddNormBlock, add_layer_norm, fused_add_norm, why_not  # noqa: E402


@pytest.fixture(autouse=True)
def add_norm_on(monkeypatch):
    monkeypatch.delenv(addnorm.OPT_OUT, raising=False)


def kernel():
    reason = why_not(True)
    if reason:
        pytest.skip(f"the add + LayerNorm kernel cannot run here: {reason}")
    return addnorm.load_library().semsearch_add_layer_norm


def relative_error(got, expected) -> float:
    return float((got.float() - expected.float()).norm() / expected.float().norm())


def tiny_bert(hidden: int = 64, dtype=torch.bfloat16):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=64)
    return BertModel(config).eval().to(dtype)


def run(model) -> torch.Tensor:
    ids = torch.arange(3 * 20).reshape(3, 20) % 100
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.float()


@pytest.mark.parametrize("shape", [(1, 16), (7, 384), (2, 5, 768), (3, 1024), (2, 4096)])
def test_kernel_matches_float32(shape):
    function = kernel()
    generator = torch.Generator().manual_seed(1)
    x, residual = (torch.randn(*shape, generator=generator).to(torch.bfloat16) for _ in range(2))
    norm = torch.nn.LayerNorm(shape[-1], eps=1e-12)
    with torch.no_grad():
        norm.weight.normal_(1.0, 0.1, generator=generator)
        norm.bias.normal_(0.0, 0.1, generator=generator)
    norm = norm.to(torch.bfloat16)
    with torch.inference_mode():
        got = add_layer_norm(function, x, residual, norm)
        expected = torch.nn.functional.layer_norm(x.float() + residual.float(), shape[-1:], norm.weight.float(),
                                                  norm.bias.float(), 1e-12)
        torch_bf16 = norm(x + residual)
    assert got.shape == x.shape and got.dtype == torch.bfloat16
    assert relative_error(got, expected) <= relative_error(torch_bf16, expected) + 1e-3


def test_blocks_are_replaced_agree_and_are_put_back():
    kernel()
    model = tiny_bert()
    originals = [layer.output for layer in model.encoder.layer] + [layer.attention.output for layer in model.encoder.layer]
    expected = run(model)
    reference = run(tiny_bert(dtype=torch.float32))
    calls = []
    real = addnorm.add_layer_norm
    addnorm.add_layer_norm = lambda *a: calls.append(1) or real(*a)
    try:
        with fused_add_norm([model]) as done:
            assert done.blocks == 4 and not done.skipped
            assert isinstance(model.encoder.layer[0].output, AddNormBlock)
            got = run(model)
    finally:
        addnorm.add_layer_norm = real
    assert len(calls) >= 4
    assert relative_error(got, reference) <= relative_error(expected, reference) + 1e-3
    assert [layer.output for layer in model.encoder.layer] + [layer.attention.output for layer in model.encoder.layer] == originals
    assert torch.equal(run(model), expected)


@pytest.mark.parametrize("model_kind,reason", [
    ("float32", "no bfloat16 output block agreed with its fused form"),
    ("width 24", "no bfloat16 output block agreed with its fused form"),  # not a multiple of 16
])
def test_models_it_cannot_take_are_left_alone(model_kind, reason):
    kernel()
    model = tiny_bert(dtype=torch.float32) if model_kind == "float32" else tiny_bert(hidden=24)
    expected = run(model)
    with fused_add_norm([model]) as done:
        assert done.blocks == 0 and done.skipped == reason
        assert torch.equal(run(model), expected)


def test_disagreeing_kernel_is_not_used(monkeypatch):
    kernel()
    monkeypatch.setattr(addnorm, "add_layer_norm", lambda function, x, residual, norm: torch.zeros_like(x))
    model = tiny_bert()
    with fused_add_norm([model]) as done:
        assert done.blocks == 0
        assert not any(isinstance(m, AddNormBlock) for m in model.modules())


def test_training_mode_runs_the_original_block():
    function = kernel()
    block = tiny_bert().encoder.layer[0].output
    fused = AddNormBlock(block, function)
    fused.train()
    hidden = torch.randn(2, 3, block.dense.in_features).to(torch.bfloat16)
    residual = torch.randn(2, 3, block.LayerNorm.normalized_shape[0]).to(torch.bfloat16)
    block.train()
    block.dropout.p = 0.0  # deterministic, so the two can be compared exactly
    with torch.no_grad():
        assert not fused.takes(block.dense(hidden), residual)
        assert torch.equal(fused(hidden, residual), block(hidden, residual))


@pytest.mark.parametrize("enabled,env,words", [
    (False, None, "turned off"),
    (None, "0", "turned off (SEMSEARCH_FUSED_ADD_NORM=0)"),
    (None, "no", "turned off (SEMSEARCH_FUSED_ADD_NORM=no)"),
])
def test_switches(enabled, env, words, monkeypatch):
    if env is not None:
        monkeypatch.setenv(addnorm.OPT_OUT, env)
    assert why_not(enabled) == words
    model = tiny_bert()
    with fused_add_norm([model], enabled) as done:
        assert done.blocks == 0 and done.skipped == words
    assert not any(isinstance(m, AddNormBlock) for m in model.modules())
