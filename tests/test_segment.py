from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embed.text.segment import split_paragraphs, split_sentences

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED_000 = (SEEDS / "000_13394d5934e0f254.txt").read_text(encoding="utf-8")
SEED_004 = (SEEDS / "004_416428c4621a00fd.txt").read_text(encoding="utf-8")

RUN_IN_HEADINGS = [
    "Iran underscores “diplomatic dynamism” to restart JCPOA",
    "Iran urges South Korea to clear debts",
    "Iran urges Azerbaijan to exercise vigilance",
    "Iran ready for talks with Kiev to clear up misconceptions",
    "Isfahan attack thwarted by Iran’s robust defenses",
]


def paragraph_texts(text):
    return [text[start:end] for start, end in split_paragraphs(text)]


def covered_once(text, spans):
    """Every non-space character of text in exactly one span, spans trimmed and in order."""
    seen = [0] * len(text)
    for start, end in spans:
        assert 0 <= start < end <= len(text)
        assert not text[start].isspace() and not text[end - 1].isspace()
        for i in range(start, end):
            seen[i] += 1
    return all(seen[i] <= 1 if ch.isspace() else seen[i] == 1 for i, ch in enumerate(text))


def test_seed_000_nbsp_paragraphs_and_run_in_headings():
    assert SEED_000.count("\n") == 0 and len(SEED_000.split("\u00a0")) == 8
    starts = [p[:40] for p in paragraph_texts(SEED_000)]
    assert starts == [
        "TEHRAN- The Islamic Revolution's message",  # NBSP piece 1
        "The late Imam Khomeini’s message and Ira",  # NBSP piece 2
        "Iran underscores “diplomatic dynamism” t",  # run-in heading
        "Qatar and Oman have been acting as inter",  # NBSP piece 3
        "Qatari Foreign Minister Mohammed bin Abd",  # NBSP piece 4
        "Iran urges South Korea to clear debts Gi",  # run-in heading
        "Iran urges Azerbaijan to exercise vigila",  # heading ending piece 4, glued to piece 5
        "“The ties between the two friendly, neig",  # NBSP piece 6
        "Iran ready for talks with Kiev to clear ",  # heading ending piece 6, glued to piece 7
        "Isfahan attack thwarted by Iran’s robust",  # run-in heading
        "All Content by Mehr News Agency is licen",  # NBSP piece 8
    ]
    for heading in RUN_IN_HEADINGS:
        assert sum(start.startswith(heading[:40]) for start in starts) == 1, heading


@pytest.mark.parametrize("heading", RUN_IN_HEADINGS)
def test_seed_000_headings_are_glued_to_the_following_text(heading):
    (paragraph,) = [p for p in paragraph_texts(SEED_000) if p.startswith(heading)]
    assert len(paragraph) > len(heading) + 100


def test_seed_004_headline_lines_are_paragraphs():
    paragraphs = paragraph_texts(SEED_004)
    assert paragraphs[:4] == [
        "Sunday 17 September 2023 - 21:10",
        "Iran to Never Retreat from Defending Resistance: FM",
        "Story Code : 1082204",
        "Iran to Never Retreat from Defending Resistance: FM",
    ]
    assert paragraphs[4].startswith("Speaking in an interview") and paragraphs[4].endswith("in Moscow.")
    assert len(paragraphs) == 14


@pytest.mark.parametrize("text", [SEED_000, SEED_004])
def test_seed_spans_cover_every_character_once(text):
    paragraphs = split_paragraphs(text)
    assert covered_once(text, paragraphs)
    sentences = [s for start, end in paragraphs for s in split_sentences(text, start, end)]
    assert covered_once(text, sentences)
    for start, end in paragraphs:
        inside = split_sentences(text, start, end)
        assert inside[0][0] == start and inside[-1][1] == end


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
        ("It costs 3.5 dollars. Cheap.", ["It costs 3.5 dollars.", "Cheap."]),
        ("He said “no intervention.” The end.", ["He said “no intervention.”", "The end."]),
        ('"Stop!" she cried. (It was late.) Go.', ['"Stop!" she cried.', "(It was late.)", "Go."]),
        ("The U.S. that quit. Then it left.", ["The U.S. that quit.", "Then it left."]),
        ("Left the U.S. The next day, rain.", ["Left the U.S.", "The next day, rain."]),
        ("See e.g. this, i.e. that. Next.", ["See e.g. this, i.e. that.", "Next."]),
        ("Apples, pears, etc. are fruit. Yes.", ["Apples, pears, etc. are fruit.", "Yes."]),
        ("J. R. R. Tolkien wrote it. Fine.", ["J. R. R. Tolkien wrote it.", "Fine."]),
        ("Item No. 5 is here. Wait... what? Ok.", ["Item No. 5 is here.", "Wait... what?", "Ok."]),
        ("Ends with spaces.   ", ["Ends with spaces."]),
    ],
)
def test_split_sentences(text, expected):
    assert [text[s:e] for s, e in split_sentences(text, 0, len(text))] == expected


def test_split_sentences_respects_the_range():
    text = "xx First one. Second one. yy"
    assert [text[s:e] for s, e in split_sentences(text, 3, 25)] == ["First one.", "Second one."]
    assert split_sentences(text, 5, 5) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One para.\n\nTwo para.", ["One para.", "Two para."]),
        ("One para.\n \t\n\n\nTwo para.", ["One para.", "Two para."]),
        ("End.\u00a0 Next starts here.", ["End.", "Next starts here."]),
        ("It is 10\u00a0km away. Really.", ["It is 10\u00a0km away. Really."]),
        ("A Short Headline\nThe body follows here.", ["A Short Headline", "The body follows here."]),
        (
            "The quick brown fox jumps over the lazy dog and keeps running far\n"
            "Away from the farm where the farmer lives with his wife and kids\n"
            "and the dog sleeps in the sun all day long without moving at all.",
            None,
        ),
        ("A line that ends with the\nNext line", None),
        ("A line that ends with a comma,\nNext line", None),
        ("a line\nthat continues lowercase", None),
        ("   ", []),
        ("", []),
    ],
)
def test_split_paragraphs_boundaries(text, expected):
    expected = [text] if expected is None else expected
    assert paragraph_texts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "He read The Guardian every day. She read The Hague Review on Sunday.",
        "Kanaani spoke. Iranian officials praised Kanaani for his work. Kanaani left.",
        "Kanaani spoke. The foreign minister said Kanaani was right. Kanaani left.",
        "It rained. Children with Vitamin A deficiency are at risk. It stopped.",
        "It rained. They met in Tehran On Monday morning. It stopped.",
        # prose from public datasets that once tripped the heuristic
        "Tesla wrote to Morgan. Morgan still owed Tesla money on the agreement. Tesla left.",
        "Luther wrote. This teaching was expressed in his 1525 publication On the Bondage of the Will.",
        "Zwingli spoke. Citing Jesus' words \u201cThe flesh profiteth nothing\u201d he left.",
        "Notch is key. Loss of FIH-1 in vivo increased Notch activity in the epithelium.",
        "It works. Their efficacy decreased significantly against susceptible An. gambiae mosquitoes.",
        "Warsaw's business grew. MasterCard Emerging Market Index has noted Warsaw's economic strength.",
    ],
)
def test_run_in_heading_false_positives_are_avoided(text):
    assert paragraph_texts(text) == [text]


def test_run_in_heading_in_generic_text():
    text = (
        "The council met on Tuesday and approved the budget. Officials were pleased. "
        "New bridge plans unveiled for river crossing According to the mayor, work starts soon. "
        "Mayor Smith spoke. Smith said more. "
        "Funding for schools doubles over five years Smith also said that the plan is final."
    )
    starts = [p[:30] for p in paragraph_texts(text)]
    assert starts == [
        "The council met on Tuesday and",
        "New bridge plans unveiled for ",
        "Funding for schools doubles ov",
    ]


TEXT = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(categories=["L", "N", "P", "Zs"]), max_size=8),
        st.sampled_from(["\n", "\n\n", "\u00a0", ". ", "? ", "“", "”", "Mr. ", "U.S. ", " On ", " Iran"]),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=100, deadline=None)
@given(text=TEXT)
def test_property_paragraphs_and_sentences_cover_every_character_once(text):
    paragraphs = split_paragraphs(text)
    assert covered_once(text, paragraphs)
    assert covered_once(text, [s for start, end in paragraphs for s in split_sentences(text, start, end)])


def test_cjk_full_stops_end_sentences():
    text = "你好世界。这是一个测试！最后一句"
    sentences = [text[s:e] for s, e in split_sentences(text, 0, len(text))]
    assert sentences == ["你好世界。", "这是一个测试！", "最后一句"]
