"""Killing a real `semsearch index` process at any moment leaves the previous index loadable and right.

Each run is stopped with SIGKILL at a named checkpoint (the builder pauses there when
$SEMSEARCH_TEST_PAUSE_AT names it) or after a fixed delay; then the index must open with its
counts agreeing and answer exactly as before (or, after the manifest swap, as the new index).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from index import index_paths, open_index
from index.search.reader import open_reader
from tests.corpus import write_corpus

CHECKPOINTS = ["db-copied", "encoding", "before-commit", "arrays-written", "before-manifest", "after-manifest"]


def start_index(cwd, env_extra: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, **env_extra}
    return subprocess.Popen(
        [sys.executable, "-m", "index.cli.app", "index", "docs", "--index", "idx"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if needle in line:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"process ended before {needle!r}: {proc.stdout.read()}")
    raise AssertionError(f"no {needle!r} within {timeout}s")


def snapshot(directory) -> tuple:
    reader = open_reader(directory)
    counts = (reader.manifest.counts, reader.manifest.generation)
    reader.close()
    with open_index(directory) as idx:
        answers = tuple(h.id for h in idx.ask("moon rocket fuel", k=5, mode="dense").hits)
        lexical = tuple(h.id for h in idx.ask("bread oven", k=5, mode="lexical").hits)
    return counts, answers, lexical


@pytest.fixture
def prepared(tmp_path, tiny_bert_dir):
    write_corpus(tmp_path / "docs")
    index_paths([tmp_path / "docs"], tmp_path / "idx", model=str(tiny_bert_dir))
    before = snapshot(tmp_path / "idx")
    # change the corpus so the killed run has real work: a new article and an edited one
    (tmp_path / "docs/space/comet.txt").write_text("A comet's tail points away from the sun.", encoding="utf-8")
    (tmp_path / "docs/food/bread.txt").write_text("Rye bread is dense and dark.", encoding="utf-8")
    return tmp_path, before


@pytest.mark.parametrize("point", CHECKPOINTS)
def test_kill_at_checkpoint_keeps_a_whole_index(prepared, point):
    root, before = prepared
    proc = start_index(root, {"SEMSEARCH_TEST_PAUSE_AT": point})
    try:
        wait_for_line(proc, f"checkpoint {point}")
        during = snapshot(root / "idx")  # a reader while the writer is mid-run: the last complete index
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    after = snapshot(root / "idx")
    if point == "after-manifest":
        assert after[0][0].documents == before[0][0].documents + 1  # the swap had happened: new index
    else:
        assert during == before and after == before
    finished = index_paths([root / "docs"], root / "idx")  # the next run recovers and completes
    assert finished.documents == before[0][0].documents + 1
    leftovers = sorted(p.name for p in (root / "idx").iterdir() if p.name.startswith("gen-"))
    assert len(leftovers) <= 2


@pytest.mark.parametrize("delay", [0.5, 3.0, 9.0])
def test_kill_after_delay_keeps_a_whole_index(prepared, delay):
    root, before = prepared
    proc = start_index(root, {})
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    counts, _, _ = snapshot(root / "idx")
    assert counts[0].documents in (before[0][0].documents, before[0][0].documents + 1)


def test_second_writer_refused_while_first_runs(prepared):
    root, _ = prepared
    proc = start_index(root, {"SEMSEARCH_TEST_PAUSE_AT": "before-manifest"})
    try:
        wait_for_line(proc, "checkpoint before-manifest")
        second = subprocess.run(
            [sys.executable, "-m", "index.cli.app", "index", "docs", "--index", "idx"],
            cwd=root, capture_output=True, text=True, timeout=120,
        )
        assert second.returncode == 1
        assert "already updating" in second.stderr and "--wait" in second.stderr
    finally:
        proc.kill()
        proc.wait(30)
