"""Which encoder answers questions: the lean one recorded in the manifest, else sentence-transformers.

At index time :func:`prepare_lean` exports (or reuses) ``DIR/lean/<fingerprint>/`` for the loaded model,
checks that it agrees with sentence-transformers on a few passages, and returns what the manifest
records. At question time :func:`choose_encoder` loads that lean encoder (no torch, no transformers);
when there is none, or it cannot be loaded, it falls back to the full path with a one-line note.
Nothing here raises because of the lean encoder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LEAN_DIR = "lean"
ENCODER_ENV = "SEMSEARCH_QUERY_ENCODER"  # "full": always sentence-transformers; "lean"/"auto"/unset: lean if any
MIN_COSINE = 0.999  # lean and sentence-transformers vectors of the same text must agree this closely
SAMPLE_QUESTIONS = ("who wrote it and when?", "what happened next")
_EXPORTED: dict[str, Path] = {}  # fingerprint -> lean dir this process exported (later indexes link to it)


@dataclass(frozen=True)
class LeanResult:
    record: dict[str, Any] | None  # what the manifest stores as query_encoder; None: no lean encoder
    note: str | None = None  # why there is none (for the index report)


def lean_for_generation(directory: Path, gen_dir: Path, encoder: Any) -> LeanResult:
    """The builder's step after a generation is written: export/reuse and verify; never raises for it."""
    if encoder is None:
        return LeanResult(None)
    return prepare_lean(directory, encoder, sample_passages(Path(gen_dir) / "passages.sqlite"))


def record_query_encoder(manifest: Any, encoder: Any, record: dict | None, precision: str | None) -> Any:
    """The manifest with this run's lean query encoder and precision; without a model, unchanged."""
    from dataclasses import replace

    return manifest if encoder is None else replace(manifest, query_encoder=record, precision=precision)


def lean_path(directory: Path, fingerprint: str) -> Path:
    return Path(directory) / LEAN_DIR / fingerprint


def prepare_lean(directory: Path, encoder: Any, samples: Sequence[str]) -> LeanResult:
    """Export or reuse the lean encoder of ``encoder`` in DIR/lean/<fingerprint>/ and verify it."""
    from embed.lean.encoder import LeanUnavailable, load_lean

    fingerprint = getattr(encoder, "fingerprint", None)
    if not fingerprint or not hasattr(encoder, "model"):
        return LeanResult(None, "no lean query encoder: the model has no fingerprint to file it under")
    target = lean_path(directory, fingerprint)
    try:
        try:
            lean = load_lean(target)
            if lean.fingerprint != fingerprint:
                raise LeanUnavailable(str(target), "made from another model")
        except LeanUnavailable:
            lean = load_lean(export_or_copy(encoder, target))
        agreement = measure_agreement(lean, encoder, samples)
    except Exception as exc:  # LeanUnavailable, or anything onnxruntime raises: never fail the index for it
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        return LeanResult(None, f"no lean query encoder ({reason}); questions will load sentence-transformers")
    if agreement["min_cosine"] < MIN_COSINE:
        return LeanResult(
            None, f"no lean query encoder: it disagrees with sentence-transformers "
            f"(cosine {agreement['min_cosine']:.4f} < {MIN_COSINE}); questions will load sentence-transformers",
        )
    record = {
        "kind": lean.settings["kind"], "path": f"{LEAN_DIR}/{fingerprint}", "fingerprint": fingerprint,
        "precision": lean.settings.get("precision", "fp32"), **agreement,
    }
    return LeanResult(record)


def export_or_copy(encoder: Any, target: Path) -> Path:
    """Export the lean encoder, or link the files of one this process already exported for the same model."""
    from embed.lean.export import export_lean

    earlier = _EXPORTED.get(encoder.fingerprint)
    if earlier is not None and earlier != target and earlier.is_dir():
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(earlier, tmp, copy_function=_link_or_copy)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
            return target
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    export_lean(encoder, target)
    _EXPORTED[encoder.fingerprint] = target
    return target


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def measure_agreement(lean: Any, encoder: Any, samples: Sequence[str]) -> dict[str, Any]:
    """Smallest cosine between lean and full vectors over sample passages (as documents) and questions."""
    documents = [text for text in samples if text.strip()] or list(SAMPLE_QUESTIONS)
    questions = [*SAMPLE_QUESTIONS, *documents[:2]]
    cosines = np.concatenate([
        np.sum(lean.encode_documents(documents) * encoder.encode_documents(documents), axis=1),
        np.sum(lean.encode_queries(questions) * encoder.encode_queries(questions), axis=1),
    ])
    return {"min_cosine": round(float(cosines.min()), 6), "checked_texts": len(cosines)}


def prune_lean(directory: Path, keep: str | None) -> None:
    """Remove lean encoders of models this index no longer uses (and half-written exports)."""
    root = Path(directory) / LEAN_DIR
    if not root.is_dir():
        return
    for path in root.iterdir():
        if path.is_dir() and path.name != keep:
            shutil.rmtree(path, ignore_errors=True)


def choose_encoder(directory: Path, manifest: Any, loader: Any = None) -> tuple[Any, str | None]:
    """(encoder, note): the lean encoder of the manifest when it loads, else the full one and why.

    ``loader(model_id)`` loads the full encoder (default: embed.encode.sentence_transformers.load_encoder); its
    ModelUnavailable propagates, as it would without a lean encoder.
    """
    record = getattr(manifest, "query_encoder", None)
    forced = os.environ.get(ENCODER_ENV, "").strip().lower()
    note = None
    if forced == "full":
        pass
    elif not record or not record.get("path"):
        note = "no lean query encoder in this index, so the question loads sentence-transformers (slow start); " \
               "run `semsearch index` again to add one"
    else:
        from embed.lean.encoder import LeanUnavailable, load_lean

        try:
            lean = load_lean(Path(directory) / record["path"])
            if lean.fingerprint == record.get("fingerprint") == manifest.model.fingerprint:
                return lean, None
            note = "the lean query encoder was made from another model"
        except LeanUnavailable as exc:
            note = f"lean query encoder unusable ({exc})"
        note += "; loading sentence-transformers instead (slow start). `semsearch index` again remakes it"
    if loader is None:
        from embed.encode.sentence_transformers import load_encoder as loader
    return loader(manifest.model.id), note


def sample_passages(db_path: Path, n: int = 8) -> list[str]:
    """A few passage texts of a generation, to compare the lean and full encoders on."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            return [row[0] for row in conn.execute("SELECT text FROM passages ORDER BY pk LIMIT ?", (n,))]
        finally:
            conn.close()
    except sqlite3.Error:
        return []
