"""Where a model's files are on this machine, and a cheap stamp of them, without importing torch.

The stamp (names, sizes and modification times of the files sentence-transformers reads, plus the bytes of
the small JSON files) lets the user cache (embed/encode/derived.py) find the files it derived from this
model before, so an index run whose passages changed never loads sentence-transformers again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from embed.errors import ModelUnavailable

# files (and folders) of a hub repository that sentence-transformers never reads: other runtimes' exports
IGNORED = {"onnx", "openvino", ".git", ".cache", "README.md", "flax_model.msgpack", "tf_model.h5", "rust_model.ot"}
SMALL_FILE = 1 << 20  # files below this are hashed by content (configs, vocabularies); larger by size + mtime


@dataclass(frozen=True)
class ModelSource:
    model_id: str  # as recorded in manifests: the hub id, or a local directory's absolute path
    directory: Path  # where its files are
    stamp: str  # 32 hex chars; changes whenever one of its files does


def locate_model(model: str) -> ModelSource | None:
    """The local files of ``model``, or None when they must be downloaded first (a hub id not cached).

    Raises ModelUnavailable for a local path that does not exist or holds no model.
    """
    from embed.encode.models import bundled_snapshot, check_local_dir, cached_snapshot, is_local_path, model_id_for

    if is_local_path(model):
        directory = Path(model).expanduser()
        check_local_dir(model, directory)
    else:
        found = cached_snapshot(model) or bundled_snapshot(model)
        if found is None:
            return None
        directory = Path(found)
    return ModelSource(model_id_for(model), directory.resolve(), stamp_files(directory))


def stamp_files(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(model_files(directory)):
        stat = path.stat()
        digest.update(f"{path.relative_to(directory)}\0{stat.st_size}\0".encode("utf-8"))
        if stat.st_size < SMALL_FILE:
            digest.update(path.read_bytes())
        else:
            digest.update(str(stat.st_mtime_ns).encode("ascii"))
    return digest.hexdigest()[:32]


def model_files(directory: Path) -> list[Path]:
    found = []
    for path in directory.rglob("*"):
        parts = path.relative_to(directory).parts
        if not path.is_file() or any(part in IGNORED or part.startswith(".") for part in parts):
            continue
        found.append(path)
    return found
