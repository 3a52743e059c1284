"""Pick the sentence of a hit that best answers the question (for terminal highlighting)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from index.storage.store import lexical_terms

if TYPE_CHECKING:
    import numpy as np


def sentence_spans(text: str) -> list[tuple[int, int]]:
    from embed.text.segment import split_sentences

    return split_sentences(text, 0, len(text)) or [(0, len(text))]


def best_sentence_lexical(question: str, text: str) -> tuple[int, int]:
    """The sentence sharing the most question words (compared on a 5-letter prefix, a cheap stem)."""
    stems = {t[:5] for t in lexical_terms(question)}
    spans = sentence_spans(text)

    def overlap(span: tuple[int, int]) -> int:
        return len(stems & {t[:5] for t in lexical_terms(text[span[0] : span[1]])})

    return max(spans, key=overlap)


def best_sentences_dense(query: np.ndarray, texts: dict[str, str], encoder) -> dict[str, tuple[int, int]]:
    """Per hit id, the sentence whose embedding is closest to the question's vector ``query`` (one batch)."""
    spans = {key: sentence_spans(text) for key, text in texts.items()}
    several = [(key, span) for key, found in spans.items() if len(found) > 1 for span in found]
    best = {key: found[0] for key, found in spans.items()}
    if not several:
        return best
    vectors = encoder.encode_documents([texts[key][a:b] for key, (a, b) in several])
    scores: dict[str, float] = {}
    for (key, span), score in zip(several, vectors @ query):
        if key not in scores or score > scores[key]:
            best[key], scores[key] = span, float(score)
    return best


def pick_highlights(result, searcher) -> dict[str, tuple[int, int]]:
    """The sentence of each hit that best answers the question: by embedding (one batch for all hits)
    when the question was answered with vectors, else by shared words."""
    if result.mode in ("dense", "hybrid"):
        query = searcher.query_vector(result.query)  # the vector the search used, not encoded again
        return best_sentences_dense(query, {h.id: h.text for h in result.hits}, searcher.encoder)
    return {h.id: best_sentence_lexical(result.query, h.text) for h in result.hits}
