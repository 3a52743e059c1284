"""The Python WordPiece (embed/lean/wordpiece.py) gives exactly what ``tokenizers`` gives, or hands over to it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from embed.lean.wordpiece import QUICK_FILE, QuickWordPiece, load_quick, plain_bert
from tests.modelkit import write_tokenizer


@pytest.fixture(scope="module")
def lean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tokenizer.json set up as the lean export sets it (truncation at 32 to reach it often, batch padding)."""
    directory = tmp_path_factory.mktemp("lean")
    source = tmp_path_factory.mktemp("hf")
    write_tokenizer(source)
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    tokenizer.enable_truncation(32)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    tokenizer.save(str(directory / "tokenizer.json"))
    return directory


@pytest.fixture(scope="module")
def both(lean_dir: Path) -> tuple[QuickWordPiece, Tokenizer]:
    quick = load_quick(lean_dir)
    assert isinstance(quick, QuickWordPiece)
    return quick, Tokenizer.from_file(str(lean_dir / "tokenizer.json"))


def fields(encodings) -> list[tuple]:
    return [(list(e.ids), list(e.type_ids), list(e.attention_mask)) for e in encodings]


def assert_same(both, texts: list[str]) -> None:
    quick, library = both
    for special in (True, False):
        assert fields(quick.encode_batch(texts, add_special_tokens=special)) == fields(
            library.encode_batch(texts, add_special_tokens=special)
        ), texts


HAND_PICKED = [
    "Which NFL team represented the AFC at Super Bowl 50?",
    "",
    "   ",
    "don't stop-believing (1981), e-mail me@host.org!!",
    "tab\tnew\nline\rreturn\x0bvt\x0cff\x1cfs\x7fdel\x00nul end",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "x" * 99 + " " + "y" * 100 + " " + "z" * 101,
    "UPPER lower MiXeD 123 4.5 6,789 #hash $dollar 100% a_b a~b a`b {x} [y] |z| ^ \\ /",
    "word " * 40,  # past the truncation limit
    "[cls] lower case special text is ordinary text",
]


@pytest.mark.parametrize("text", HAND_PICKED)
def test_hand_picked_texts_agree(both, text: str) -> None:
    assert both[0].handles(text)
    assert_same(both, [text])


def test_a_batch_is_padded_to_its_longest_text(both) -> None:
    assert_same(both, HAND_PICKED)
    widths = {len(e.ids) for e in both[0].encode_batch(HAND_PICKED)}
    assert len(widths) == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(max_codepoint=127), max_size=60), min_size=1, max_size=4))
def test_generated_ascii_texts_agree(both, texts: list[str]) -> None:
    assert_same(both, texts)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=3))
def test_any_text_agrees_through_the_library(both, texts: list[str]) -> None:
    assert_same(both, texts)


@pytest.mark.parametrize("text", ["café au lait", "東京の天気", "[CLS] a real special token", "naïve [MASK]"])
def test_other_texts_go_to_the_library(both, text: str) -> None:
    assert not both[0].handles(text)
    assert_same(both, [text, "plain words"])


def test_methods_it_lacks_are_the_librarys(both) -> None:
    quick, library = both
    assert quick.to_str() == library.to_str()
    assert quick.encode("hello world").ids == library.encode("hello world").ids


def edit(config: dict, path: tuple[str, ...], value) -> dict:
    copy = json.loads(json.dumps(config))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


@pytest.mark.parametrize(
    "path, value",
    [
        (("normalizer",), {"type": "Lowercase"}),
        (("normalizer", "clean_text"), False),
        (("pre_tokenizer",), {"type": "Whitespace"}),
        (("model", "type"), "BPE"),
        (("padding", "strategy"), {"Fixed": 128}),
        (("truncation", "direction"), "Left"),
        (("post_processor",), None),
        (("post_processor", "single", 0, "SpecialToken", "type_id"), 1),
    ],
)
def test_a_tokenizer_that_is_not_plain_bert_is_refused(lean_dir: Path, path, value) -> None:
    config = json.loads((lean_dir / "tokenizer.json").read_text(encoding="utf-8"))
    assert plain_bert(config) is not None
    assert plain_bert(edit(config, path, value)) is None


def test_not_plain_bert_is_remembered_and_answered_by_the_library(tmp_path: Path, lean_dir: Path) -> None:
    config = json.loads((lean_dir / "tokenizer.json").read_text(encoding="utf-8"))
    (tmp_path / "tokenizer.json").write_text(json.dumps(edit(config, ("pre_tokenizer",), {"type": "Whitespace"})))
    assert load_quick(tmp_path) is None
    kept = json.loads((tmp_path / QUICK_FILE).read_text(encoding="utf-8"))
    assert kept["settings"] is None
    assert load_quick(tmp_path) is None

    from embed.lean.encoder import load_tokenizer

    assert isinstance(load_tokenizer(tmp_path, quick=True), Tokenizer)


@pytest.mark.parametrize("damage", ["", "{not json", '{"format": "other"}', None])
def test_a_missing_damaged_or_stale_file_is_made_again(tmp_path: Path, lean_dir: Path, damage) -> None:
    (tmp_path / "tokenizer.json").write_bytes((lean_dir / "tokenizer.json").read_bytes())
    if damage is None:  # stale: made for another tokenizer.json
        load_quick(tmp_path)
        with (tmp_path / "tokenizer.json").open("a") as file:
            file.write(" ")
    else:
        (tmp_path / QUICK_FILE).write_text(damage)
    quick = load_quick(tmp_path)
    assert isinstance(quick, QuickWordPiece)
    kept = json.loads((tmp_path / QUICK_FILE).read_text(encoding="utf-8"))
    assert kept["source"] == hashlib.blake2b((tmp_path / "tokenizer.json").read_bytes(), digest_size=16).hexdigest()
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_still_answers(tmp_path: Path, lean_dir: Path) -> None:
    (tmp_path / "tokenizer.json").write_bytes((lean_dir / "tokenizer.json").read_bytes())
    tmp_path.chmod(0o555)
    try:
        quick = load_quick(tmp_path)
        assert isinstance(quick, QuickWordPiece) and not (tmp_path / QUICK_FILE).exists()
    finally:
        tmp_path.chmod(0o755)
