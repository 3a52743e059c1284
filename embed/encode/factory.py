"""Which encoder turns passages into vectors: the model's derived OpenVINO (or static-table) encoder when this
machine has made it (no torch import), else sentence-transformers once to make it, and sentence-transformers
itself, with a notice, for a model that cannot be exported.

``SEMSEARCH_ENGINE=sentence-transformers`` forces the sentence-transformers path (for comparisons).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from embed.encode.derived import DerivedModel, find_derived, make_derived
from embed.encode.precision import check_precision
from embed.encode.source import locate_model

ENGINE_ENV = "SEMSEARCH_ENGINE"
FULL = "sentence-transformers"


@dataclass(frozen=True)
class OpenedEncoder:
    encoder: Any  # an Encoder (embed/protocols.py) with fingerprint and precision
    derived: DerivedModel | None  # this model's derived files (the lean query encoder among them)
    notice: str | None = None  # why passages are encoded by sentence-transformers (slower), when they are


def open_encoder(model: str, precision: str = "auto") -> OpenedEncoder:
    """The passage encoder for ``model``; ModelUnavailable when the model cannot be had at all."""
    from embed.encode.models import model_id_for

    precision = check_precision(precision)
    source = locate_model(model)
    derived = find_derived(source) if source is not None else None
    full = None
    if derived is None:
        full = load_full(model)
        derived = make_derived(full, source or locate_model(model))  # a download has put the files in place
    if os.environ.get(ENGINE_ENV, "").strip().lower() == FULL:
        return OpenedEncoder(full or load_full(model), derived)
    if not derived.engine:
        return OpenedEncoder(full or load_full(model), derived, no_engine_notice(derived))
    try:
        encoder = load_engine(derived, precision)
    except Exception as exc:  # an OpenVINO that cannot compile here, damaged files: keep working, say so
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        notice = f"passages are encoded with sentence-transformers (slower): the OpenVINO encoder failed ({reason})"
        return OpenedEncoder(full or load_full(model), derived, notice)
    encoder.model_id = model_id_for(model)
    return OpenedEncoder(encoder, derived)


def load_engine(derived: DerivedModel, precision: str) -> Any:
    if derived.engine == "openvino":
        from embed.encode.openvino import load_openvino

        return load_openvino(derived.directory, precision)
    from embed.lean.encoder import load_lean

    encoder = load_lean(derived.directory, threads=os.cpu_count())
    encoder.precision = "fp32"
    return encoder


def load_full(model: str) -> Any:
    from embed.encode.sentence_transformers import load_encoder

    encoder = load_encoder(model)
    encoder.precision = "fp32"
    return encoder


def no_engine_notice(derived: DerivedModel) -> str:
    lean, engine = derived.record.get("lean", {}), derived.record.get("engine", {})
    if not lean.get("ok"):
        return f"no lean query encoder ({lean.get('reason')}): questions and passages load sentence-transformers (slower)"
    return f"passages are encoded with sentence-transformers (slower): {engine.get('reason', 'no derived encoder')}"
