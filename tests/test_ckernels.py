"""embed/ckernels.py: the C kernels are built once into the cache, and every way of not getting them
(no compiler, a failing one, an unwritable cache, a missing source, the wrong CPU) is named."""

from __future__ import annotations

import sys

import pytest

from embed import ckernels
from embed.ckernels import KernelUnavailable, load_library, missing_cpu_flags


def test_library_is_built_once_into_the_cache(tmp_path):
    if missing_cpu_flags() or not ckernels._compiler():
        pytest.skip(f"the kernels cannot be built here: {missing_cpu_flags() or 'no C compiler'}")
    first = load_library(tmp_path)
    built = list(tmp_path.glob("bf16_kernels-*.so"))
    assert len(built) == 1 and load_library(tmp_path) is first
    assert not list(tmp_path.glob(".build-*"))  # no temporary file left behind


def test_missing_compiler_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(KernelUnavailable, match="no C compiler"):
        load_library(tmp_path)
    assert not list(tmp_path.glob("*.so"))


def test_failing_compiler_leaves_nothing_behind(tmp_path, monkeypatch):
    compiler = tmp_path / "broken-cc"
    compiler.write_text("#!/bin/sh\necho 'error: no AMX here' >&2\nexit 1\n")
    compiler.chmod(0o755)
    monkeypatch.setenv("CC", str(compiler))
    with pytest.raises(KernelUnavailable, match="broken-cc could not build it: error: no AMX here"):
        load_library(tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())
    with pytest.raises(KernelUnavailable, match="could not build it"):  # remembered, not rebuilt
        load_library(tmp_path / "cache")


def test_unwritable_cache_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", sys.executable)  # any program: the cache is looked at before it runs
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(KernelUnavailable, match="cannot write to the kernel cache"):
        load_library(tmp_path / "a-file" / "kernels")


def test_missing_source_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(ckernels, "SOURCE", tmp_path / "bf16_kernels.c")
    with pytest.raises(KernelUnavailable, match="its source cannot be read"):
        load_library(tmp_path)


@pytest.mark.parametrize("flags,expected", [
    ({"avx512bw", "avx512_bf16", "amx_tile"}, ""),
    ({"avx512bw"}, "this CPU lacks avx512_bf16"),
    (set(), "this CPU lacks avx512bw, avx512_bf16"),
])
def test_missing_cpu_flags(flags, expected, monkeypatch):
    monkeypatch.setattr(ckernels, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(ckernels.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(ckernels.sys, "platform", "linux")
    assert missing_cpu_flags() == expected


def test_other_platforms_are_named(monkeypatch):
    monkeypatch.setattr(ckernels.platform, "machine", lambda: "aarch64")
    assert missing_cpu_flags() == "needs Linux on x86-64"
