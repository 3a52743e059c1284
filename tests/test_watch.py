"""`semsearch watch` / `serve --watch`: a file added, changed, deleted becomes searchable, updated, gone
while a real server keeps answering; bad files and failed runs are one line each and watching goes on;
Ctrl-C stops the command cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("watchfiles")

from index.serve.watch import Watcher, watch_filter  # noqa: E402
from tests.servekit import ROOT, build_corpus_index, running_server, wait_for  # noqa: E402


def lexical_titles(url: str, question: str) -> list[str]:
    response = httpx.get(url + "/api/ask", params={"q": question, "mode": "lexical", "k": 10}, timeout=30)
    assert response.status_code == 200, response.text
    return [hit["title"] for hit in response.json()["hits"]]


def test_add_change_delete_while_serving(tmp_path, tiny_bert_dir):
    directory = build_corpus_index(tmp_path, tiny_bert_dir)
    docs = tmp_path / "docs"
    lines: list[str] = []
    with running_server(directory) as (url, live):
        watcher = Watcher([docs], directory, quiet_ms=100, report=lines.append, after_run=live.refresh)
        thread = watcher.start_thread()
        try:
            wait_for(lambda: watcher.runs >= 1)
            note = docs / "notes" / "owls.md"
            note.parent.mkdir()
            note.write_text("# Night Owls\n\nBarn owls hunt voles silently over the meadow.", encoding="utf-8")
            wait_for(lambda: "Night Owls" in lexical_titles(url, "barn owls voles"))

            note.write_text("# Night Owls\n\nTawny owls nest in old oak trees.", encoding="utf-8")
            wait_for(lambda: "Night Owls" in lexical_titles(url, "tawny oak nest"))
            assert "Night Owls" not in lexical_titles(url, "barn voles meadow")

            (docs / "junk.txt").write_bytes(b"\x00\xff" * 50)  # a bad file: one line, watching goes on
            wait_for(lambda: any(line.startswith("skipped") and "junk.txt" in line for line in lines))

            note.unlink()
            wait_for(lambda: "Night Owls" not in lexical_titles(url, "tawny oak nest owls"))
            assert httpx.get(url + "/healthz").status_code == 200
        finally:
            watcher.stop()
            thread.join(timeout=30)
    assert not thread.is_alive()
    assert any(line.startswith("indexed in") for line in lines)


def test_a_failed_run_is_one_line_and_watching_goes_on(tmp_path, tiny_bert_dir, static_model_dir):
    """The index was built with another model: each run fails with the model-mismatch message, once per
    burst, and the watcher keeps going (and keeps the index as it was)."""
    directory = build_corpus_index(tmp_path, tiny_bert_dir)
    lines: list[str] = []
    watcher = Watcher([tmp_path / "docs"], directory, model=str(static_model_dir), quiet_ms=100, report=lines.append)
    thread = watcher.start_thread()
    try:
        wait_for(lambda: watcher.runs >= 1)
        (tmp_path / "docs" / "more.txt").write_text("More words about rivers and seas.", encoding="utf-8")
        wait_for(lambda: watcher.runs >= 2)
        failures = [line for line in lines if line.startswith("index run failed")]
        assert len(failures) == 2 and all("\n" not in line and "--rebuild" in line for line in failures)
        assert thread.is_alive()
    finally:
        watcher.stop()
        thread.join(timeout=30)


def test_filter_skips_the_index_and_other_files(tmp_path):
    from watchfiles import Change

    keep = watch_filter(tmp_path / ".semsearch")
    assert keep(Change.added, str(tmp_path / "a.md")) and keep(Change.deleted, str(tmp_path / "folder"))
    assert not keep(Change.modified, str(tmp_path / ".semsearch" / "manifest.json"))
    assert not keep(Change.added, str(tmp_path / "photo.png"))
    assert not keep(Change.added, str(tmp_path / ".git" / "x.txt"))


def test_missing_path_is_one_error_line(tmp_path):
    from typer.testing import CliRunner

    from index.cli.app import app

    result = CliRunner().invoke(app, ["watch", str(tmp_path / "nowhere"), "--index", str(tmp_path / "idx")])
    assert result.exit_code == 1 and "no such file or directory" in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_watch_command_stops_on_ctrl_c(tmp_path, tiny_bert_dir):
    directory = build_corpus_index(tmp_path, tiny_bert_dir)
    command = [sys.executable, "-m", "index.cli.quick", "watch", str(tmp_path / "docs"), "--index", str(directory)]
    env = {**os.environ, "NO_COLOR": "1", "PYTHONFAULTHANDLER": "1"}  # SIGABRT dumps every thread's stack
    # a test run started in the background by a non-interactive shell ignores SIGINT, and a child inherits
    # that: Ctrl-C must reach the watch as it does from a terminal
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = []
        while not any(line.startswith("indexed in") for line in lines):
            line = process.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # seen once in a full run: leave the stacks for whoever looks next
            process.send_signal(signal.SIGABRT)
            pytest.fail("watch did not stop within 30 s of Ctrl-C; its threads:\n" + process.communicate(timeout=30)[1])
        assert code == 0
        rest = process.stderr.read()
        assert "stopping" in rest and "Traceback" not in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (Path(directory) / "manifest.json").is_file()
