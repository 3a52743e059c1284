"""Which model an index run uses, the encoder for its passages, and the token counter its chunker uses."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from embed.errors import ModelPathInvalid, ModelUnavailable
from embed.records import ChunkerSettings
from index.errors import ModelMismatch
from index.storage.manifest import Manifest, ModelInfo

APPROX_MAX_TOKENS = 256


def normalise_model_name(name: str) -> str:
    """A local model directory is recorded by its absolute path; a hub id as given."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


def choose_model(old: Manifest | None, requested: str | None, rebuild: bool, directory: Path) -> str:
    from embed.encode.models import DEFAULT_MODEL

    requested = requested or os.environ.get("SEMSEARCH_MODEL") or None
    if requested:
        check_model_path(requested)
    requested = normalise_model_name(requested) if requested else None
    if old is None or rebuild:
        return requested or DEFAULT_MODEL
    if requested and requested != old.model.id:
        raise ModelMismatch(str(directory), old.model.id, requested)
    return old.model.id


def check_model_path(model: str) -> None:
    """ModelPathInvalid for a local path that is not a model folder: an error, not the hub's offline fallback;
    BadModelSettings for an unreadable semsearch.json in it (before any work, not when the run ends)."""
    from embed.encode.models import check_local_dir, is_local_path
    from index.search.model_fusion import model_fusion

    if is_local_path(model):
        try:
            check_local_dir(model, Path(model).expanduser())
        except ModelUnavailable as exc:
            raise ModelPathInvalid(model, exc.reason) from None
        model_fusion(model)


def open_model(model: str, precision: str) -> tuple[Any, str | None]:
    """(OpenedEncoder, None), or (None, the ModelUnavailable text explaining the fixes)."""
    from embed.encode.factory import open_encoder

    try:
        return open_encoder(model, precision), None
    except ModelUnavailable as exc:
        return None, str(exc)


def check_same_model(directory: Path, recorded: ModelInfo, encoder: Any) -> None:
    if recorded.dimension not in (None, encoder.dimension) or (
        recorded.fingerprint and getattr(encoder, "fingerprint", None) not in (None, recorded.fingerprint)
    ):
        raise ModelMismatch(str(directory), f"{recorded.id} (as it was when indexed)", f"{encoder.model_id} (changed)")


def chunker_for(encoder: Any, old: Manifest | None, min_tokens: int):
    """(counter, settings): the model's own tokenizer, or the offline approximation."""
    if encoder is not None:
        return encoder.counter, ChunkerSettings(encoder.passage_budget(), min_tokens, encoder.model_id)
    from embed.text.approx import ApproxCounter

    max_tokens = (old.model.max_tokens if old and old.model.max_tokens else APPROX_MAX_TOKENS) - 2
    return ApproxCounter(), ChunkerSettings(max_tokens, min_tokens, "approx")


def model_info(encoder: Any) -> ModelInfo:
    from index.search.model_fusion import model_fusion

    fusion = model_fusion(encoder.model_id)
    return ModelInfo(
        encoder.model_id, encoder.dimension, encoder.max_tokens, dict(encoder.prompts),
        getattr(encoder, "fingerprint", None), fusion.label() if fusion else None,
    )


def query_encoder_record(opened: Any) -> dict[str, Any] | None:
    """What the manifest records of the lean query encoder (in the user cache, by fingerprint); None: none."""
    derived = opened.derived if opened is not None else None
    if derived is None or not derived.lean_ok:
        return None
    lean = derived.record["lean"]
    return {
        "kind": lean["kind"], "fingerprint": derived.fingerprint,
        "min_cosine": lean["min_cosine"], "checked_texts": lean["checked_texts"], "shared": True,
    }


def chunker_key(settings: ChunkerSettings | dict) -> str:
    import json

    return json.dumps(settings if isinstance(settings, dict) else asdict(settings), sort_keys=True)
