import functools
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embed.text.approx import ApproxCounter, TokenizersCounter
from embed.text.chunking import chunk_document, collapse_whitespace
from embed.records import ChunkerSettings, Document
from embed.text.segment import split_paragraphs, split_sentences

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
TOKENIZER = Path(__file__).resolve().parents[2] / "shared/models/_incomplete/all-MiniLM-L6-v2/tokenizer.json"


class WordCounter:
    """One token per whitespace-separated word: additive, easy to reason about."""

    name = "words"

    def __init__(self):
        self.calls = 0

    def count(self, texts):
        self.calls += 1
        return [len(text.split()) for text in texts]


class SuperadditiveCounter:
    """Joined texts cost more than their parts: packing estimates are too low and must be re-checked."""

    name = "superadditive"

    def count(self, texts):
        return [len(text.split()) + len(text.split()) ** 2 // 40 for text in texts]


@pytest.fixture(scope="module")
def wordpiece():
    if not TOKENIZER.exists():
        pytest.skip(f"SKIPPED: real WordPiece tokenizer missing at {TOKENIZER}; tokenizer checks not run")
    return load_wordpiece()


@pytest.fixture(params=["approx", "wordpiece"])
def counter(request):
    return ApproxCounter() if request.param == "approx" else request.getfixturevalue("wordpiece")


@functools.cache
def load_wordpiece():
    return TokenizersCounter.from_file(TOKENIZER, name="all-MiniLM-L6-v2")


def make_doc(text, source="doc.txt"):
    return Document(source=source, title="T", text=text, path=source)


def check_passages(doc, passages, counter, budget):
    text = doc.text
    assert [p.ordinal for p in passages] == list(range(len(passages)))
    assert [p.id for p in passages] == [f"{doc.source}#{i}" for i in range(len(passages))]
    for passage in passages:
        assert 0 <= passage.start < passage.end <= len(text)
        assert passage.text == collapse_whitespace(text[passage.start : passage.end])
        assert passage.source == doc.source and passage.title == doc.title
    for before, after in zip(passages, passages[1:]):
        assert before.end <= after.start
    covered = [False] * len(text)
    for passage in passages:
        covered[passage.start : passage.end] = [True] * (passage.end - passage.start)
    lost = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not lost, f"characters lost at {lost[:5]}"
    counts = counter.count([p.text for p in passages])
    assert max(counts, default=0) <= budget, counts


@pytest.mark.parametrize("budget", [256, 128, 64, 16])
@pytest.mark.parametrize("seed", ["000_13394d5934e0f254.txt", "004_416428c4621a00fd.txt"])
def test_seed_sentences_land_in_passages_within_budget(seed, budget, counter):
    text = (SEEDS / seed).read_text(encoding="utf-8")
    doc = make_doc(text, f"seeds/{seed}")
    chunker = ChunkerSettings(max_tokens=budget, min_tokens=min(48, budget // 2))
    passages = chunk_document(doc, counter, chunker)
    check_passages(doc, passages, counter, budget)
    sentences = [s for start, end in split_paragraphs(text) for s in split_sentences(text, start, end)]
    stitched = "".join(text[start:end] for start, end in sentences)
    assert re.sub(r"\s+", "", stitched) == re.sub(r"\s+", "", text)
    sizes = counter.count([collapse_whitespace(text[start:end]) for start, end in sentences])
    assert budget < 128 or max(sizes) <= budget  # at 128 and more no seed sentence needs cutting
    for (start, end), size in zip(sentences, sizes):
        if size <= budget:  # a sentence that fits is never cut
            assert any(p.start <= start and end <= p.end for p in passages), text[start:end][:60]


def test_paragraph_boundaries_are_respected_when_passages_are_large():
    text = "First paragraph has words.\n\nSecond paragraph has words too."
    passages = chunk_document(make_doc(text), WordCounter(), ChunkerSettings(max_tokens=64, min_tokens=1))
    assert [p.text for p in passages] == ["First paragraph has words.", "Second paragraph has words too."]


def test_long_paragraph_is_balanced():
    sentence = "w w w w w w w w w w."  # 10 words
    text = " ".join([sentence] * 10)
    passages = chunk_document(make_doc(text), WordCounter(), ChunkerSettings(max_tokens=64, min_tokens=1))
    assert [len(p.text.split()) for p in passages] == [50, 50]


def test_sentences_are_counted_in_one_batch():
    counter = WordCounter()
    text = "\n\n".join(f"Paragraph {i} has a sentence. And another one here." for i in range(20))
    chunk_document(make_doc(text), counter, ChunkerSettings(max_tokens=64))
    assert counter.calls == 2  # all sentences at once, then the final passage texts


def test_small_passages_join_a_neighbour():
    text = "Tiny.\n\nA longer paragraph with quite a few words in it.\n\nEnd."
    passages = chunk_document(make_doc(text), WordCounter(), ChunkerSettings(max_tokens=64, min_tokens=5))
    assert [p.text for p in passages] == [collapse_whitespace(text)]
    passages = chunk_document(make_doc(text), WordCounter(), ChunkerSettings(max_tokens=11, min_tokens=5))
    assert [p.text for p in passages] == ["Tiny. A longer paragraph with quite a few words in it.", "End."]


def test_giant_sentence_and_giant_word_are_split_without_loss(counter):
    text = "Intro sentence here. " + " ".join(["lorem"] * 300) + " " + "x" * 3000 + " tail words. Done."
    doc = make_doc(text)
    passages = chunk_document(doc, counter, ChunkerSettings(max_tokens=32, min_tokens=8))
    check_passages(doc, passages, counter, 32)
    assert "".join(p.text for p in passages).count("x") == 3000


def test_non_additive_counter_is_rechecked():
    text = " ".join(f"Sentence number {i} has some words in it." for i in range(60))
    doc = make_doc(text)
    counter = SuperadditiveCounter()
    passages = chunk_document(doc, counter, ChunkerSettings(max_tokens=100, min_tokens=10))
    check_passages(doc, passages, counter, 100)


def test_passage_text_collapses_whitespace_and_keeps_document_span():
    text = "Head line\n\nBody\u00a0text\n  with\tspaces."
    passages = chunk_document(make_doc(text), WordCounter(), ChunkerSettings(max_tokens=64, min_tokens=1))
    assert [(p.start, p.end, p.text) for p in passages] == [
        (0, 9, "Head line"),
        (11, len(text), "Body text with spaces."),
    ]


@pytest.mark.parametrize("text", ["", "   \n\n \u00a0 "])
def test_empty_document_has_no_passages(text):
    assert chunk_document(make_doc(text), WordCounter(), ChunkerSettings(max_tokens=64)) == []


@pytest.mark.parametrize("budget", [0, -1, 7])
def test_too_small_budget_is_rejected(budget):
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_document(make_doc("Some text."), WordCounter(), ChunkerSettings(max_tokens=budget))


def test_approx_counter_overestimates_wordpiece_on_seeds(wordpiece):
    texts = []
    for seed in SEEDS.glob("*.txt"):
        text = seed.read_text(encoding="utf-8")
        for start, end in split_paragraphs(text):
            texts += [text[s:e] for s, e in split_sentences(text, start, end)]
    for text, approx, real in zip(texts, ApproxCounter().count(texts), wordpiece.count(texts)):
        assert approx >= real, text


def test_tokenizers_counter_excludes_special_tokens_and_does_not_truncate(wordpiece):
    assert wordpiece.count(["hello", "hello world"]) == [1, 2]
    assert wordpiece.count(["hello " * 1000]) == [1000]
    assert wordpiece.count([]) == []


WORDS = st.one_of(
    st.sampled_from(["the", "Iran", "said", "U.S.", "Mr.", "3.5", "“quoted”", "(aside)", "e.g.", "On"]),
    st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=12),
    st.text(alphabet=st.characters(categories=["L", "M", "N", "P", "S"]), min_size=1, max_size=6),
    st.text(alphabet="abcxyz", min_size=40, max_size=400),
)
SENTENCES = st.builds(
    lambda words, end: " ".join(words) + end,
    st.lists(WORDS, min_size=1, max_size=25),
    st.sampled_from([".", "!", "?", ".”", "", ":"]),
)
SEPARATORS = st.sampled_from(["\n\n", "\u00a0 ", "\n", " ", "\n \n\t\n", "\u2029", "\r\n", "\u00a0"])
TEXTS = st.builds(
    lambda paragraphs, sep: sep.join(paragraphs),
    st.lists(st.builds(" ".join, st.lists(SENTENCES, min_size=1, max_size=6)), min_size=0, max_size=6),
    SEPARATORS,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, budget=st.sampled_from([8, 16, 64, 256]), min_tokens=st.sampled_from([0, 5, 48]))
def test_property_coverage_and_budget(text, budget, min_tokens):
    doc = make_doc(text)
    counter = ApproxCounter()
    passages = chunk_document(doc, counter, ChunkerSettings(max_tokens=budget, min_tokens=min_tokens))
    check_passages(doc, passages, counter, budget)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, budget=st.sampled_from([8, 32, 128]))
def test_property_with_wordpiece(text, budget):
    if not TOKENIZER.exists():
        pytest.skip(f"SKIPPED: real WordPiece tokenizer missing at {TOKENIZER}")
    counter = load_wordpiece()
    doc = make_doc(text)
    passages = chunk_document(doc, counter, ChunkerSettings(max_tokens=budget, min_tokens=10))
    check_passages(doc, passages, counter, budget)
