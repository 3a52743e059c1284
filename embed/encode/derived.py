"""Files derived from a model, made once per machine and shared by every index that uses the model.

    <cache>/models/<fingerprint>-v<N>/  lean.json, tokenizer.json, bert.npy | model.onnx | embeddings.npy:
                                    the torch-free query encoder (embed/lean/)
                                    openvino/model.xml + model.bin: the passage encoder (transformers only)
                                    derived.json: what was made and how closely each agrees with
                                    sentence-transformers, measured once, here
    <cache>/sources/<stamp>.json    which fingerprint a model's files on disk have (embed/encode/source.py)

<cache> is $SEMSEARCH_CACHE, else the platform's user cache folder (~/.cache/semsearch on Linux). Everything
is written to a temporary name and renamed, so a killed export leaves nothing half-made behind a valid name.
torch is needed only by :func:`make_derived` (the export); finding and loading never import it.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embed.encode.source import ModelSource

CACHE_ENV = "SEMSEARCH_CACHE"
OPENVINO_SUBDIR = "openvino"  # embed/encode/openvino.OPENVINO_DIR (not imported: finding files stays light)
DERIVED_JSON = "derived.json"
DERIVED_VERSION = 2  # 2: OpenVINO IR through the PyTorch frontend (fused attention)
MIN_COSINE = 0.999  # a derived encoder is used only when it agrees with sentence-transformers this closely
# fixed texts the derived encoders are checked on: short and long, so padding and long inputs are both seen
SAMPLES = (
    "who wrote it and when?",
    "what happened next",
    "The river carries water from the mountains to the sea, and towns grew along its banks.",
    " ".join(["Measurements were repeated on three machines over several weeks to rule out drift."] * 12),
)


def cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("semsearch", appauthor=False))


def model_dir(fingerprint: str) -> Path:
    """A new DERIVED_VERSION writes a new folder: a process still reading the old one keeps its files."""
    return cache_root() / "models" / f"{fingerprint}-v{DERIVED_VERSION}"


@dataclass(frozen=True)
class DerivedModel:
    directory: Path
    record: dict[str, Any]  # derived.json

    @property
    def fingerprint(self) -> str:
        return str(self.record["fingerprint"])

    @property
    def lean_ok(self) -> bool:
        return bool(self.record.get("lean", {}).get("ok"))

    @property
    def engine(self) -> str:
        """"openvino" | "lean" (static models: the table is the encoder) | "" (none: use sentence-transformers)."""
        return str(self.record.get("engine", {}).get("kind", "")) if self.record.get("engine", {}).get("ok") else ""

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())


def find_derived(source: ModelSource) -> DerivedModel | None:
    """The derived files of the model at ``source``, when this machine made them before."""
    try:
        fingerprint = json.loads((cache_root() / "sources" / f"{source.stamp}.json").read_text("utf-8"))["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return derived_for(str(fingerprint))


def derived_for(fingerprint: str) -> DerivedModel | None:
    directory = model_dir(fingerprint)
    try:
        record = json.loads((directory / DERIVED_JSON).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("version") != DERIVED_VERSION or record.get("fingerprint") != fingerprint:
        return None
    return DerivedModel(directory, record)


def make_derived(encoder: Any, source: ModelSource | None) -> DerivedModel:
    """Export the lean query encoder and the OpenVINO passage encoder of a loaded sentence-transformers
    ``encoder``, measure both against it, record the result. Never raises for a model that cannot be
    exported: the record says why, and callers keep sentence-transformers for that part."""
    fingerprint = encoder.fingerprint
    target = model_dir(fingerprint)
    record: dict[str, Any] = {"version": DERIVED_VERSION, "fingerprint": fingerprint, "model_id": encoder.model_id}
    try:
        write_derived(encoder, target, record)
    except OSError as exc:  # an unwritable or full cache: say so, and the caller keeps sentence-transformers
        reason = f"cannot write the model cache {target.parent} ({exc.strerror or exc}); set {CACHE_ENV} to a writable folder"
        return derived_for(fingerprint) or DerivedModel(target, {**record, "lean": {"ok": False, "reason": reason}})
    if source is not None:
        remember_source(source, fingerprint)
    return derived_for(fingerprint) or DerivedModel(target, record)


def write_derived(encoder: Any, target: Path, record: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        record["lean"] = attempt(lambda: lean_record(encoder, tmp))
        if not record["lean"]["ok"]:
            record["engine"] = {"ok": False, "reason": "no torch-free form of this model"}
        elif record["lean"]["kind"] == "static":  # the table lookup is as fast as it gets
            record["engine"] = {**record["lean"], "kind": "lean"}
        else:
            record["engine"] = attempt(lambda: {**export_openvino(encoder, tmp), "kind": "openvino"})
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / DERIVED_JSON).write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
        if intact(derived_for(record["fingerprint"])):  # made meanwhile by another process, which may be
            return                                          # reading them: keep those, never pull them away
        shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if derived_for(record["fingerprint"]) is None:  # not another process that got there first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def intact(derived: DerivedModel | None) -> bool:
    """Are the files ``derived`` records whole? (Sizes as written; the IR present when it says OpenVINO.)"""
    if derived is None:
        return False
    from embed.lean.encoder import LeanUnavailable, read_settings

    try:
        read_settings(derived.directory)
    except LeanUnavailable:
        return not derived.lean_ok
    return derived.engine != "openvino" or all(
        (derived.directory / OPENVINO_SUBDIR / name).is_file() for name in ("model.xml", "model.bin")
    )


def lean_record(encoder: Any, directory: Path) -> dict[str, Any]:
    from embed.lean.encoder import load_lean
    from embed.lean.export import export_lean

    lean = load_lean(export_lean(encoder, directory))
    return {**agreement(lean, encoder), "kind": lean.settings["kind"]}


def attempt(make) -> dict[str, Any]:
    """{"ok": True, ...measurements} or {"ok": False, "reason": ...}: an export that fails is recorded, not raised."""
    try:
        result = make()
    except Exception as exc:  # torch.onnx, openvino and onnxruntime raise many types for unsupported models
        return {"ok": False, "reason": " ".join(str(exc).split())[:300] or type(exc).__name__}
    if result["min_cosine"] < MIN_COSINE:
        return {**result, "ok": False, "reason": f"disagrees with sentence-transformers (cosine {result['min_cosine']:.4f})"}
    return {**result, "ok": True}


def agreement(derived: Any, encoder: Any) -> dict[str, Any]:
    """Smallest cosine between ``derived`` and sentence-transformers vectors of SAMPLES, as questions and passages."""
    texts = list(SAMPLES)
    cosines = np.concatenate([
        np.sum(derived.encode_documents(texts) * encoder.encode_documents(texts), axis=1),
        np.sum(derived.encode_queries(texts) * encoder.encode_queries(texts), axis=1),
    ])
    return {"min_cosine": round(float(cosines.min()), 6), "checked_texts": len(cosines)}


def export_openvino(encoder: Any, directory: Path) -> dict[str, Any]:
    """The transformer as OpenVINO IR beside the lean files; measured in float32."""
    from embed.encode.openvino import OPENVINO_DIR, load_openvino

    import openvino

    out = directory / OPENVINO_DIR
    out.mkdir(parents=True, exist_ok=True)
    openvino.save_model(convert_transformer(encoder, out), str(out / "model.xml"), compress_to_fp16=False)
    return agreement(load_openvino(directory, "fp32", cached=False), encoder)


def convert_transformer(encoder: Any, scratch: Path) -> Any:
    """OpenVINO's PyTorch frontend keeps each attention as one ScaledDotProductAttention op: 1.5x the
    passages/s of the same model converted from ONNX, where it is MatMul + Softmax + NaN guards (measured on
    all-MiniLM-L6-v2, bf16, this project's machine). A model it cannot convert goes through ONNX."""
    import openvino
    import torch

    from embed.lean.export import export_plain_onnx, token_embeddings_module

    module, names, example = token_embeddings_module(encoder)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shapes the export keeps dynamic anyway
            model = openvino.convert_model(
                module, example_input=tuple(example[n] for n in names), input=[([-1, -1], openvino.Type.i64)] * len(names)
            )
        for port, name in zip(model.inputs, names):  # positional inputs get the tokenizer's names
            port.get_tensor().set_names({name})
        return model
    except Exception:  # the frontend refuses some architectures; ONNX export is the broader route
        onnx_path = export_plain_onnx(encoder, scratch / "model.onnx")
        try:
            return openvino.convert_model(str(onnx_path))
        finally:
            for leftover in scratch.glob("model.onnx*"):
                leftover.unlink()


def remember_source(source: ModelSource, fingerprint: str) -> None:
    path = cache_root() / "sources" / f"{source.stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"fingerprint": fingerprint, "model_id": source.model_id}), encoding="utf-8")
    os.replace(tmp, path)
