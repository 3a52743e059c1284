"""Pick the sentence of a hit that best answers the question (for terminal highlighting)."""

from __future__ import annotations

import numpy as np

from index.store import lexical_terms


def sentence_spans(text: str) -> list[tuple[int, int]]:
    from embed.segment import split_sentences

    return split_sentences(text, 0, len(text)) or [(0, len(text))]


def best_sentence_lexical(question: str, text: str) -> tuple[int, int]:
    """The sentence sharing the most question words (compared on a 5-letter prefix, a cheap stem)."""
    stems = {t[:5] for t in lexical_terms(question)}
    spans = sentence_spans(text)

    def overlap(span: tuple[int, int]) -> int:
        return len(stems & {t[:5] for t in lexical_terms(text[span[0] : span[1]])})

    return max(spans, key=overlap)


def best_sentence_dense(query_vector: np.ndarray, text: str, encoder) -> tuple[int, int]:
    """The sentence whose embedding is closest to the question's."""
    spans = sentence_spans(text)
    if len(spans) == 1:
        return spans[0]
    vectors = encoder.encode_documents([text[a:b] for a, b in spans])
    return spans[int(np.argmax(vectors @ query_vector))]
