"""Rank fusion: hand-computed RRF and weighted scores, and the --fusion string format."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.search.fusion import FusionConfig, fuse_hits, fuse_rrf, fuse_weighted, parse_fusion


def test_rrf_hand_computed() -> None:
    fused = fuse_rrf([["a", "b", "c"], ["b", "d"]], k=60)
    assert [doc for doc, _ in fused] == ["b", "a", "d", "c"]
    assert dict(fused) == pytest.approx({
        "b": 1 / 62 + 1 / 61,  # rank 2 in the first list, rank 1 in the second
        "a": 1 / 61,
        "d": 1 / 62,
        "c": 1 / 63,
    })


def test_rrf_weights_and_small_k() -> None:
    fused = dict(fuse_rrf([["a", "b", "c"], ["b", "d"]], k=1, weights=[2, 1]))
    assert fused == pytest.approx({"a": 2 / 2, "b": 2 / 3 + 1 / 2, "c": 2 / 4, "d": 1 / 3})


def test_rrf_reads_score_mappings_and_breaks_ties_by_id() -> None:
    # {"x": 0.2, "y": 0.9, "z": 0.9} ranks y, z (tie by id), x
    fused = fuse_rrf([{"x": 0.2, "y": 0.9, "z": 0.9}], k=0)
    assert fused == [("y", 1.0), ("z", 0.5), ("x", pytest.approx(1 / 3))]
    assert fuse_rrf([["b"], ["a"]]) == fuse_rrf([["a"], ["b"]]) == [("a", 1 / 61), ("b", 1 / 61)]


def test_rrf_repeated_id_counts_at_first_rank() -> None:
    assert fuse_rrf([["a", "b", "a"]], k=0) == [("a", 1.0), ("b", 0.5)]


def test_weighted_minmax_hand_computed() -> None:
    dense = {"a": 0.9, "b": 0.5, "c": 0.1}  # -> a 1, b 0.5, c 0
    lexical = {"b": 12.0, "d": 4.0, "e": 8.0}  # -> b 1, d 0, e 0.5; missing ids get 0
    fused = fuse_weighted([dense, lexical], [0.7, 1 - 0.7])
    assert [doc for doc, _ in fused] == ["a", "b", "e", "c", "d"]  # c and d tie at 0: by id
    assert dict(fused) == pytest.approx({"a": 0.7, "b": 0.7 * 0.5 + 0.3, "e": 0.3 * 0.5, "c": 0.0, "d": 0.0})


def test_weighted_zscore_hand_computed() -> None:
    z = math.sqrt(1.5)  # both lists are (mean - s, mean, mean + s) with population sd s * sqrt(2/3)
    dense = {"a": 0.9, "b": 0.5, "c": 0.1}  # z: a +1.2247, b 0, c -1.2247
    lexical = {"b": 12.0, "d": 4.0, "e": 8.0}  # z: b +1.2247, d -1.2247, e 0; missing ids get -1.2247
    fused = fuse_weighted([dense, lexical], [0.5, 0.5], normalise="zscore")
    assert [doc for doc, _ in fused] == ["b", "a", "e", "c", "d"]
    assert dict(fused) == pytest.approx({"b": z / 2, "a": 0.0, "e": -z / 2, "c": -z, "d": -z})


def test_weighted_flat_list_only_says_present() -> None:
    fused = fuse_weighted([{"x": 3.0}, {"y": 1.0, "x": 0.0}], [1, 1])
    assert fused == [("x", 1.0), ("y", 1.0)]
    assert fuse_weighted([{}, {"a": 2.0, "b": 1.0}], [1, 1]) == [("a", 1.0), ("b", 0.0)]


@pytest.mark.parametrize(("call", "words"), [
    (lambda: fuse_rrf([["a"]], k=-1), "k must be"),
    (lambda: fuse_rrf([["a"]], weights=[1, 2]), "2 weights for 1 lists"),
    (lambda: fuse_rrf([["a"]], weights=[-1]), "weights must be"),
    (lambda: fuse_weighted([{"a": 1.0}], [1], normalise="rank"), "unknown normalisation"),
    (lambda: fuse_weighted([{"a": 1.0}], [float("nan")]), "weights must be"),
    (lambda: fuse_weighted([{"a": float("inf")}], [1]), "finite"),
])
def test_fusion_rejects(call, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        call()


def test_fuse_hits_follows_config() -> None:
    dense, lexical = {"a": 0.9, "b": 0.1}, {"b": 5.0, "c": 1.0}
    assert fuse_hits(parse_fusion("rrf:10"), dense, lexical) == fuse_rrf([dense, lexical], k=10)
    assert fuse_hits(parse_fusion("weighted:0.7"), dense, lexical) == fuse_weighted([dense, lexical], [0.7, 1 - 0.7])


@pytest.mark.parametrize(("text", "config", "described"), [
    ("rrf", FusionConfig("rrf", rrf_k=60), "rrf"),
    ("rrf:10", FusionConfig("rrf", rrf_k=10), "rrf:10"),
    ("RRF:2.5", FusionConfig("rrf", rrf_k=2.5), "rrf:2.5"),
    ("rrf:60", FusionConfig("rrf"), "rrf"),
    ("weighted", FusionConfig("weighted", weight_dense=0.5), "weighted"),
    ("weighted:0.7", FusionConfig("weighted", weight_dense=0.7), "weighted:0.7"),
    (" weighted:1 ", FusionConfig("weighted", weight_dense=1.0), "weighted:1"),
])
def test_parse_fusion(text: str, config: FusionConfig, described: str) -> None:
    assert parse_fusion(text) == config
    assert config.describe() == described


@pytest.mark.parametrize("text", ["", "bm25", "rrf:", "rrf:abc", "rrf:-1", "rrf:nan", "rrf:inf", "rrf:10:2",
                                  "weighted:1.5", "weighted:-0.1", "dense:0.5"])
def test_parse_fusion_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=rf"bad fusion '{text}'.*expected 'rrf'|bad fusion '{text}'.*must"):
        parse_fusion(text)


@given(st.one_of(
    st.builds(lambda k: FusionConfig("rrf", rrf_k=k), st.floats(0, 1e6, allow_nan=False)),
    st.builds(lambda w: FusionConfig("weighted", weight_dense=w), st.floats(0, 1)),
))
def test_describe_round_trips(config: FusionConfig) -> None:
    assert parse_fusion(config.describe()) == config


@given(st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=8), min_size=1, max_size=4))
def test_rrf_output_is_sorted_union(rankings: list[list[str]]) -> None:
    fused = fuse_rrf(rankings)
    assert {doc for doc, _ in fused} == {doc for ranking in rankings for doc in ranking}
    assert fused == sorted(fused, key=lambda item: (-item[1], item[0]))
