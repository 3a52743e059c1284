"""The small interfaces the rest of semsearch codes against."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

# progress(done, total): called after each batch of work; the CLI turns it into a progress bar.
Progress = Callable[[int, int], None]


class TokenCounter(Protocol):
    """Counts tokens the way the model's own tokenizer does (special tokens excluded)."""

    name: str

    def count(self, texts: Sequence[str]) -> list[int]: ...


class Encoder(Protocol):
    """Turns texts into float32, L2-normalised rows (one per text)."""

    model_id: str
    dimension: int
    max_tokens: int  # the longest input the model reads; beyond it text is silently dropped
    prompts: dict[str, str]  # {"query": ..., "document": ...}; "" when the model defines none
    counter: TokenCounter

    def encode_queries(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: Progress | None = None
    ) -> np.ndarray: ...

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: Progress | None = None
    ) -> np.ndarray: ...

    def passage_budget(self) -> int:
        """Tokens a passage may use: max_tokens less the special tokens and the document prompt."""
        ...
