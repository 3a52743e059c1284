"""embed/allocator.py: freed memory is reused while encoding and given back afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from embed import allocator
from embed.allocator import AFTER_ENCODING, M_TRIM_THRESHOLD, OPT_OUT, WHILE_ENCODING, keep_freed_memory, wanted

ROOT = Path(__file__).resolve().parents[1]
GLIBC = allocator._glibc() is not None

# A fresh process churns blocks the way a forward pass does (8 MiB blocks, allocated, written, freed);
# it reports page faults of a second churn and resident memory, with and without keep_freed_memory.
CHURN = r"""
import ctypes, json, resource, sys
from embed.allocator import keep_freed_memory
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
BLOCK, COUNT = 8 << 20, 20
def churn():
    blocks = [libc.malloc(BLOCK) for _ in range(COUNT)]
    for b in blocks:
        ctypes.memset(b, 1, BLOCK)
    for b in blocks:
        libc.free(b)
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
def second_churn_faults():
    churn()
    before = faults()
    churn()
    return faults() - before
start = rss()
out = {"pages": BLOCK * COUNT // 4096}
if sys.argv[1] == "keep":
    with keep_freed_memory() as on:
        out["on"] = on
        out["faults"] = second_churn_faults()
        out["kept_mib"] = (rss() - start) / 2**20
    out["after_mib"] = (rss() - start) / 2**20
    out["faults_after"] = second_churn_faults()
else:
    out["faults"] = second_churn_faults()
print(json.dumps(out))
"""


def run_churn(mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != OPT_OUT and not k.startswith("MALLOC_")}
    env.pop("GLIBC_TUNABLES", None)
    done = subprocess.run(
        [sys.executable, "-c", CHURN, mode], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(not GLIBC, reason="needs glibc malloc (mallopt, malloc_trim)")
def test_freed_blocks_are_reused_inside_and_given_back_after():
    plain, kept = run_churn("plain"), run_churn("keep")
    pages = plain["pages"]
    assert kept["on"] is True
    assert plain["faults"] > pages / 2  # glibc's defaults: every churn faults its pages in again
    assert kept["faults"] < pages / 20  # kept: the same blocks are reused
    assert kept["kept_mib"] > 100  # 160 MiB were used and are still held inside
    assert kept["after_mib"] < 40  # ... and given back on leaving
    assert kept["faults_after"] > pages / 2  # trimming is back after leaving


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append(("mallopt", parameter, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


@pytest.fixture
def fake_libc(monkeypatch) -> FakeLibc:
    libc = FakeLibc()
    monkeypatch.setattr(allocator, "_glibc", lambda: libc)
    monkeypatch.delenv(OPT_OUT, raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    for name in allocator.USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return libc


SWITCH_ON = [("mallopt", p, v) for p, v in WHILE_ENCODING.items()]
SWITCH_OFF = [("mallopt", p, v) for p, v in AFTER_ENCODING.items()] + [("malloc_trim", 0)]


def test_nested_blocks_switch_once_and_restore_at_the_outermost(fake_libc):
    with keep_freed_memory() as outer:
        with keep_freed_memory() as inner:
            assert fake_libc.calls == SWITCH_ON
        assert fake_libc.calls == SWITCH_ON  # the inner block left, the outer still encodes
    assert (outer, inner) == (True, True)
    assert fake_libc.calls == SWITCH_ON + SWITCH_OFF


def test_an_error_inside_still_restores(fake_libc):
    with pytest.raises(RuntimeError), keep_freed_memory():
        raise RuntimeError("encoding failed")
    assert fake_libc.calls == SWITCH_ON + SWITCH_OFF
    assert allocator._depth == 0


def test_settings_are_sane():
    assert WHILE_ENCODING[M_TRIM_THRESHOLD] > AFTER_ENCODING[M_TRIM_THRESHOLD]
    assert WHILE_ENCODING[allocator.M_MMAP_THRESHOLD] <= 32 << 20  # glibc refuses more on 64-bit


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, True),
        ({OPT_OUT: "1"}, True),
        ({OPT_OUT: "0"}, False),
        ({OPT_OUT: " Off "}, False),
        ({OPT_OUT: "false"}, False),
        ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}, False),
        ({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2"}, True),
        ({"MALLOC_TOP_PAD_": "0"}, False),
        ({"MALLOC_MMAP_THRESHOLD_": "131072"}, False),
    ],
)
def test_user_settings_and_opt_out_are_respected(environ, expected):
    assert wanted(environ) is expected


def test_opt_out_changes_nothing(fake_libc, monkeypatch):
    monkeypatch.setenv(OPT_OUT, "0")
    with keep_freed_memory() as on:
        pass
    assert on is False and fake_libc.calls == []


def test_without_glibc_nothing_changes(monkeypatch):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    monkeypatch.delenv(OPT_OUT, raising=False)
    with keep_freed_memory() as on:
        assert allocator._depth == 0
    assert on is False


def test_encoding_runs_inside_and_restores(fake_libc, tiny_bert_encoder):
    seen = []
    tiny_bert_encoder.encode_documents(
        [f"passage {i} about rivers" for i in range(5)], batch_size=2,
        progress=lambda done, total: seen.append(list(fake_libc.calls)),
    )
    assert seen and all(calls == SWITCH_ON for calls in seen)  # every batch ran with memory kept
    assert fake_libc.calls == SWITCH_ON + SWITCH_OFF
