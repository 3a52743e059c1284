"""Export a loaded SentenceTransformer to a lean directory (see embed/lean.py), and pick a precision.

Supported models: Transformer -> Pooling [-> Normalize] (a plain BertModel becomes ``bert.npy``, run by
embed/numpy_bert.py; any other transformer ``model.onnx``, run by onnxruntime; pooling runs in numpy)
and StaticEmbedding [-> Normalize] (the table becomes ``embeddings.npy``). Anything else raises
:class:`~embed.lean.encoder.LeanUnavailable`; callers keep the full sentence-transformers path then.

The precision helpers choose how *documents* are encoded at index time: bfloat16 weights on CPUs with
AMX or AVX-512 BF16, else float32. torch is imported only inside these functions.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from embed.lean.encoder import (
    LEAN_FORMAT, LEAN_JSON, LEAN_VERSION, ONNX_FILE, POOLING_MODES, STATIC_FILE, TOKENIZER_FILE, LeanUnavailable,
)
from embed.lean.numpy_bert import ACTIVATIONS, WEIGHTS_FILE, tensor_names

ONNX_OPSET = 17  # onnxruntime 1.31 runs opsets 7-23; 17 is well inside both torch's and ORT's support
LEAN_KINDS = ("auto", "bert", "onnx")  # auto: numpy BERT where the model is a plain BertModel, else ONNX


def export_lean(encoder: Any, target: str | Path, kind: str = "auto") -> Path:
    """Write the lean form of ``encoder`` (a SentenceTransformerEncoder) to ``target``; return it.

    ``kind`` picks how a transformer is run (see LEAN_KINDS); a static model is always kind "static".
    Written into a temporary sibling and renamed, so ``target`` is either whole or absent.
    """
    if kind not in LEAN_KINDS:
        raise ValueError(f"unknown lean kind {kind!r}; choose one of {', '.join(LEAN_KINDS)}")
    target = Path(target)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        settings = _write_files(encoder, tmp, kind)
        settings["files"] = {p.name: p.stat().st_size for p in sorted(tmp.iterdir())}
        (tmp / LEAN_JSON).write_text(json.dumps(settings, indent=2, sort_keys=True), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except LeanUnavailable:
        raise
    except Exception as exc:  # torch.onnx / onnxruntime raise many types; none may escape as a crash
        raise LeanUnavailable(encoder.model_id, f"export failed ({' '.join(str(exc).split())[:200]})") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_files(encoder: Any, directory: Path, kind: str = "auto") -> dict[str, Any]:
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, StaticEmbedding, Transformer

    modules = list(encoder.model)
    rest = [m for m in modules[1:] if not isinstance(m, Normalize)]
    settings = _base_settings(encoder, normalise=any(isinstance(m, Normalize) for m in modules))
    first = modules[0]
    if isinstance(first, StaticEmbedding) and not rest:
        table = first.embedding.weight.detach().to("cpu").float().numpy()
        np.save(directory / STATIC_FILE, np.ascontiguousarray(table, dtype=np.float32), allow_pickle=False)
        first.tokenizer.save(str(directory / TOKENIZER_FILE))
        return {**settings, "kind": "static", "pooling": ["mean"], "max_seq_length": None}
    if isinstance(first, Transformer) and len(rest) == 1 and isinstance(rest[0], Pooling):
        pooling = rest[0]
        modes = [pooling.pooling_mode] if isinstance(pooling.pooling_mode, str) else list(pooling.pooling_mode)
        if any(mode not in POOLING_MODES for mode in modes):
            raise LeanUnavailable(encoder.model_id, f"unsupported pooling {modes}")
        _check_plain_text(first, encoder.model_id)
        max_length = int(encoder.model.max_seq_length)
        _save_transformer_tokenizer(first.tokenizer, max_length, directory / TOKENIZER_FILE)
        settings = {**settings, "pooling": modes, "include_prompt": bool(pooling.include_prompt), "max_seq_length": max_length}
        problem = bert_problem(first.auto_model, max_length)
        if kind == "bert" and problem:
            raise LeanUnavailable(encoder.model_id, f"no numpy BERT form: {problem}")
        if kind != "onnx" and not problem:
            return {**settings, "kind": "bert", "bert": _export_bert(first.auto_model, directory / WEIGHTS_FILE)}
        _export_onnx(first, directory / ONNX_FILE)
        return {**settings, "kind": "onnx", "opset": ONNX_OPSET}
    names = " -> ".join(type(m).__name__ for m in modules)
    raise LeanUnavailable(encoder.model_id, f"no lean form for a {names} model")


def bert_problem(auto_model: Any, max_length: int) -> str | None:
    """Why embed/numpy_bert.py cannot run this transformer exactly (None: it can)."""
    config = auto_model.config
    checks = [
        (type(auto_model).__name__ == "BertModel", f"a {type(auto_model).__name__}, not a BertModel"),
        (getattr(config, "hidden_act", None) in ACTIVATIONS, f"activation {getattr(config, 'hidden_act', None)!r}"),
        (getattr(config, "position_embedding_type", "absolute") == "absolute", "relative position embeddings"),
        (not getattr(config, "is_decoder", False), "a decoder"),
        (max_length <= int(getattr(config, "max_position_embeddings", 0)), "max_seq_length beyond its positions"),
        (config.hidden_size % config.num_attention_heads == 0, "uneven attention heads"),
    ]
    return next((reason for ok, reason in checks if not ok), None)


def _export_bert(auto_model: Any, path: Path) -> dict[str, Any]:
    """The weights numpy_bert reads, back to back in one float32 .npy; returns the config + tensor table."""
    config = auto_model.config
    state = auto_model.state_dict()
    names = tensor_names(int(config.num_hidden_layers))
    arrays = [state[name].detach().to("cpu").float().numpy().astype(np.float32) for name in names]
    table, offset = {}, 0
    for name, array in zip(names, arrays):
        table[name] = [offset, list(array.shape)]
        offset += array.size
    np.save(path, np.concatenate([a.ravel() for a in arrays]), allow_pickle=False)
    return {
        "layers": int(config.num_hidden_layers), "heads": int(config.num_attention_heads),
        "eps": float(config.layer_norm_eps), "activation": str(config.hidden_act), "tensors": table,
    }


def _base_settings(encoder: Any, *, normalise: bool) -> dict[str, Any]:
    return {
        "format": LEAN_FORMAT, "version": LEAN_VERSION, "model_id": encoder.model_id,
        "fingerprint": encoder.fingerprint, "dimension": encoder.dimension, "max_tokens": encoder.max_tokens,
        "special_tokens": encoder.special_tokens, "prompts": dict(encoder.prompts), "normalise": normalise,
        "precision": "fp32",
    }


def _check_plain_text(transformer: Any, model_id: str) -> None:
    """Only the plain path: text in, last_hidden_state out, one max length for queries and documents."""
    for name in ("query_length", "document_length", "query_expansion"):
        if getattr(transformer, name, None) is not None:
            raise LeanUnavailable(model_id, f"the transformer sets {name}")
    if getattr(transformer, "do_lower_case", False):
        raise LeanUnavailable(model_id, "the transformer lower-cases its input itself (do_lower_case)")
    text = dict(getattr(transformer, "modality_config", {}) or {}).get("text", {})
    if text and (text.get("method") != "forward" or text.get("method_output_name") != "last_hidden_state"):
        raise LeanUnavailable(model_id, f"unsupported text path {text}")


def _save_transformer_tokenizer(hf_tokenizer: Any, max_length: int, path: Path) -> None:
    """The Rust tokenizer behind ``hf_tokenizer``, set to truncate and pad the way ST calls it."""
    from tokenizers import Tokenizer

    backend = getattr(hf_tokenizer, "backend_tokenizer", None)
    if not isinstance(backend, Tokenizer):
        raise LeanUnavailable(str(path.parent), "the tokenizer has no tokenizer.json (Rust) form")
    copy = Tokenizer.from_str(backend.to_str())
    copy.enable_truncation(max_length, strategy="longest_first", direction=hf_tokenizer.truncation_side)
    copy.enable_padding(
        direction=hf_tokenizer.padding_side, pad_id=int(hf_tokenizer.pad_token_id or 0),
        pad_type_id=int(getattr(hf_tokenizer, "pad_token_type_id", 0) or 0), pad_token=hf_tokenizer.pad_token or "[PAD]",
    )
    copy.save(str(path))


def _export_onnx(transformer: Any, path: Path) -> None:
    """The transformer as ONNX, optimised once by onnxruntime (for the lean query encoder)."""
    raw = export_plain_onnx(transformer, path.with_suffix(".raw.onnx"))
    _optimise(raw, path)
    raw.unlink()


def token_embeddings_module(transformer: Any) -> tuple[Any, list[str], dict[str, Any]]:
    """(module, input names, example inputs): the transformer (a sentence-transformers Transformer module, or an
    encoder holding one as ``model[0]``) as input ids -> token embeddings, for tracing by an exporter."""
    import torch

    if not hasattr(transformer, "auto_model"):
        transformer = transformer.model[0]
    auto_model = transformer.auto_model
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in transformer.tokenizer.model_input_names]

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = auto_model

        def forward(self, *tensors):
            return self.inner(**dict(zip(names, tensors)), return_dict=True).last_hidden_state

    # the model's own tokenizer makes the example; one row is padded, so tracing keeps the attention-mask path
    batch = transformer.tokenizer(["a river carries water to the sea", "water"], padding=True, return_tensors="pt")
    device = next(auto_model.parameters()).device
    return TokenEmbeddings().eval(), names, {name: batch[name].to(device) for name in names}


def export_plain_onnx(transformer: Any, path: Path) -> Path:
    """The transformer as standard ONNX ops: input ids -> token embeddings, dynamic batch and sequence axes."""
    import torch

    module, names, example = token_embeddings_module(transformer)
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "token_embeddings"]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, tuple(example[n] for n in names), str(path), input_names=names,
            output_names=["token_embeddings"], dynamic_axes=axes, opset_version=ONNX_OPSET, dynamo=False,
        )
    return path


def _optimise(source: Path, target: Path) -> None:
    """Apply onnxruntime's graph fusions once and save them, so loading for a query skips that work."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    # weights in a side file: onnxruntime maps it instead of parsing them out of the protobuf (2x faster load)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", target.name + ".data")
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
