"""Saving a tuned model: a standard sentence-transformers directory with a model card, written atomically."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from embed.train.pairs import TuneError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def check_out_dir(out: str | Path) -> Path:
    """``out`` as a Path, if it may receive the model: absent, empty, or an earlier model directory."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise TuneError(f"--out {out} is a file; give a directory for the model")
    if out.is_dir() and any(out.iterdir()) and not (out / "modules.json").is_file():
        raise TuneError(f"--out {out} is a non-empty directory that holds no model; give a new or empty one")
    return out


def save_tuned(model: SentenceTransformer, out: str | Path, card: str, files: Mapping[str, str] | None = None) -> Path:
    """Write the sentence-transformers directory with ``card`` as its README.md and ``files`` (name -> text)
    beside it; replaces an earlier model, whole."""
    out = check_out_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()  # not mkdtemp: the model directory gets the usual (umask) permissions
    try:
        model.save(str(staging), create_model_card=False)
        (staging / "README.md").write_text(card, encoding="utf-8")
        for name, text in (files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out
