"""Which encoder answers questions: the lean one the manifest names (shared model files in the user cache,
found by the model's fingerprint; no torch), else sentence-transformers with a one-line note.

In a long-running process (``warm``: serve, mcp) the question is encoded by the OpenVINO model of the same
shared files instead, on one thread with the LATENCY hint: ~0.1 s more to load, then 2.6x quicker a question
than numpy BERT (6.2 vs 16 ms a SciFact question here). In float32, so a server answers what the CLI answers
(bfloat16 would take 3.4 ms but move scores in the fifth decimal). Anything wrong with it falls back to the
lean encoder.

An index copied to another machine finds no shared files there: the first question loads
sentence-transformers once, derives the files (embed/encode/derived.py) and later questions are lean again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ENCODER_ENV = "SEMSEARCH_QUERY_ENCODER"  # "full": always sentence-transformers; "lean"/"auto"/unset: lean if any


def choose_encoder(directory: Path, manifest: Any, loader: Any = None, *, warm: bool = False) -> tuple[Any, str | None]:
    """(encoder, note): the lean encoder of the manifest when it loads, else the full one and why.

    ``loader(model_id)`` loads the full encoder (default: embed.encode.sentence_transformers.load_encoder); its
    ModelUnavailable propagates, as it would without a lean encoder.
    """
    record = getattr(manifest, "query_encoder", None)
    forced = os.environ.get(ENCODER_ENV, "").strip().lower()
    fingerprint = manifest.model.fingerprint
    if loader is None:
        loader = load_full
    if forced == "full":
        return loader(manifest.model.id), None
    if not record or not fingerprint or record.get("fingerprint") != fingerprint:
        note = "no lean query encoder in this index, so the question loads sentence-transformers (slow start); " \
               "run `semsearch index` again to add one"
        return loader(manifest.model.id), note
    lean, note = load_shared(fingerprint, warm)
    if lean is not None:
        return lean, None
    full = loader(manifest.model.id)
    if getattr(full, "fingerprint", None) == fingerprint:  # derive the files here, once, for the next questions
        from embed.encode.derived import make_derived

        if make_derived(full, None).lean_ok:
            note += "; made them again, so the next question starts quickly"
    return full, note


def load_full(model_id: str) -> Any:
    """sentence-transformers' encoder; its module is imported only here (~20 ms a lean question never needs)."""
    from embed.encode.sentence_transformers import load_encoder

    return load_encoder(model_id)


def load_shared(fingerprint: str, warm: bool = False) -> tuple[Any, str | None]:
    """(lean encoder, None) from the user cache, or (None, why not). ``warm``: the OpenVINO question encoder
    when the files have one."""
    from embed.encode.derived import derived_for
    from embed.lean.encoder import LeanUnavailable, load_lean

    derived = derived_for(fingerprint)
    if derived is None or not derived.lean_ok:
        return None, "the shared model files of this index are not on this machine, so this question loads " \
                     "sentence-transformers (slow start)"
    if warm and derived.engine == "openvino":
        try:
            from embed.encode.openvino import load_openvino

            return load_openvino(derived.directory, "fp32", questions=True), None
        except Exception:  # noqa: BLE001 - OpenVINO or its files: the lean encoder answers as well, slower
            pass
    try:
        return load_lean(derived.directory), None
    except LeanUnavailable as exc:
        return None, f"lean query encoder unusable ({exc}); loading sentence-transformers instead (slow start)"
