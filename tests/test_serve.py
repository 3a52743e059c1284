"""`semsearch serve`: a real uvicorn server on 127.0.0.1 (ephemeral port) over a live index: every
endpoint, the CLI's --json objects, error codes and bounds, and generation switches under load."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import quote

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from typer.testing import CliRunner  # noqa: E402

from index.api import index_paths  # noqa: E402
from index.cli.app import app  # noqa: E402
from index.serve.server import bind_socket, is_loopback  # noqa: E402
from tests.servekit import ROOT, build_corpus_index, moon_id, running_server, wait_for  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny_bert_dir):
    root = tmp_path_factory.mktemp("serve")
    return root, build_corpus_index(root, tiny_bert_dir)


@pytest.fixture(scope="module")
def server(corpus):
    with running_server(corpus[1]) as (url, live):
        yield url, corpus[1], corpus[0]


def get(url: str, path: str, **params) -> httpx.Response:
    return httpx.get(url + path, params=params or None, timeout=30)


def cli_json(*args: str) -> dict:
    result = runner.invoke(app, list(args) + ["--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)



@pytest.mark.parametrize("mode", ["auto", "hybrid", "dense", "lexical"])
def test_ask_is_what_the_cli_json_prints(server, mode):
    url, directory, _ = server
    response = get(url, "/api/ask", q="Who landed on the moon?", k=3, mode=mode)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    expected = cli_json("ask", "Who landed on the moon?", "-k", "3", "--mode", mode, "--index", str(directory))
    assert response.json() == expected
    assert len(expected["hits"]) == (1 if mode == "lexical" else 3)  # only the moon article has "moon"/"landed"
    assert set(expected["hits"][0]) == {"rank", "id", "score", "source", "title", "text"}


def test_related_and_info_are_what_the_cli_json_prints(server):
    url, directory, root = server
    by_id = get(url, "/api/related", id=moon_id(directory), k=2, other_articles="true").json()
    assert by_id == cli_json("related", moon_id(directory), "-k", "2", "--other-articles", "--index", str(directory))
    assert by_id["hits"] and all(h["source"] != moon_id(directory).split("#")[0] for h in by_id["hits"])
    by_text = get(url, "/api/related", text="lentil soup", k=2).json()
    assert by_text == cli_json("related", "--text", "lentil soup", "-k", "2", "--index", str(directory))
    assert get(url, "/api/info").json() == cli_json("info", "--index", str(directory))


@pytest.mark.parametrize("how", ["words", "meaning"])
def test_highlight_marks_a_sentence_of_each_hit(server, how):
    url, _, _ = server
    hits = get(url, "/api/ask", q="wild yeast starter", k=2, mode="hybrid", highlight=how).json()["hits"]
    for hit in hits:
        start, end = hit["highlight"]
        assert 0 <= start < end <= len(hit["text"]) and hit["text"][start:end] != hit["text"]
    if how == "words":  # the tiny model's sentence vectors are random: only shared words are predictable
        bread = next(hit for hit in hits if hit["title"] == "Baking Sourdough at Home")
        assert "yeast starter" in bread["text"][slice(*bread["highlight"])]
    assert "highlight" not in get(url, "/api/ask", q="wild yeast starter", k=2).json()["hits"][0]


def test_passage_with_neighbours(server):
    url, directory, _ = server
    first = get(url, "/api/passages/" + quote(moon_id(directory), safe="/")).json()
    assert first["id"] == moon_id(directory) and first["previous"] is None and first["ordinal"] == 0
    assert first["title"] == "Moon Landing Anniversary" and "astronauts" in first["text"]
    if first["next"]:  # the tiny model's 64-token passages may hold the whole article
        second = get(url, "/api/passages/" + quote(first["next"], safe="/")).json()
        assert second["previous"] == first["id"]


def test_healthz_names_the_generation(server):
    url, _, _ = server
    assert get(url, "/healthz").json() == {"status": "ok", "generation": "gen-000001"}


@pytest.mark.parametrize(
    "path, params, status, needle",
    [
        ("/api/ask", {"q": "moon", "k": 0}, 400, "between 1 and 100"),
        ("/api/ask", {"q": "moon", "k": 101}, 400, "between 1 and 100"),
        ("/api/ask", {"q": "moon", "k": "three"}, 400, "k:"),
        ("/api/ask", {"q": "moon", "mode": "magic"}, 400, "mode:"),
        ("/api/ask", {"q": "moon", "highlight": "yes"}, 400, "highlight:"),
        ("/api/ask", {"q": "   "}, 400, "empty"),
        ("/api/ask", {}, 400, "q:"),
        ("/api/ask", {"q": "x" * 1001}, 413, "at most 1000"),
        ("/api/related", {}, 400, "exactly one"),
        ("/api/related", {"id": "a#1", "text": "b"}, 400, "exactly one"),
        ("/api/related", {"text": "y" * 10_001}, 413, "at most 10000"),
        ("/api/related", {"id": "nowhere.txt#4"}, 404, "no passage"),
        ("/api/passages/nowhere.txt%239", {}, 404, "no passage"),
        ("/api/passages/../../etc/passwd", {}, 404, ""),  # normalised away by the client, or no passage
        ("/static/../../pyproject.toml", {}, 404, ""),
        ("/static/live.py", {}, 404, "no such file"),
        ("/no/such/route", {}, 404, "Not Found"),
        ("/api/ask", {"q": "z" * 17_000}, 413, "request URL"),
    ],
)
def test_errors_are_json_with_the_right_code(server, path, params, status, needle):
    url, _, _ = server
    response = get(url, path, **params)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and needle in body["error"]
    assert "Traceback" not in response.text and "\n" not in body["error"]


def test_read_only_and_no_bodies(server):
    url, _, _ = server
    assert httpx.post(url + "/api/ask", params={"q": "moon"}).status_code == 405
    sent = httpx.request("GET", url + "/api/ask", params={"q": "moon"}, content=b"x" * 100)
    assert sent.status_code == 413 and "no request body" in sent.json()["error"]
    assert httpx.delete(url + "/api/info").json().keys() == {"error"}


def test_page_and_assets_are_local(server):
    url, _, _ = server
    page = get(url, "/")
    assert page.status_code == 200 and "<form" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for name, kind in (("app.js", "javascript"), ("style.css", "css")):
        asset = get(url, f"/static/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
        assert "https://" not in asset.text
    assert "/api/ask" in get(url, "/openapi.json").json()["paths"]
    docs = get(url, "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_docs_work_offline(server):
    pytest.importorskip("swagger_ui_bundle")
    url, _, _ = server
    docs = get(url, "/docs").text
    assert "https://" not in docs.replace("https://fastapi.tiangolo.com", "")  # no CDN (a link is not a load)
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/docs-assets/{name}" in docs and get(url, f"/docs-assets/{name}").status_code == 200
    assert get(url, "/docs-assets/index.html").status_code == 404


def test_no_index_is_503_until_one_appears(tmp_path, tiny_bert_dir):
    with running_server(tmp_path / "idx") as (url, live):
        for path in ("/api/ask?q=moon", "/api/info", "/healthz", "/api/passages/a%231"):
            response = httpx.get(url + path)
            assert response.status_code == 503 and "no index" in response.json()["error"]
        build_corpus_index(tmp_path, tiny_bert_dir)
        wait_for(lambda: httpx.get(url + "/healthz").status_code == 200)
        assert httpx.get(url + "/api/ask", params={"q": "moon"}).json()["hits"]


def test_generation_switch_under_load_fails_no_request(tmp_path, tiny_bert_dir):
    """Two index runs (each a new generation, the older deleted) while 4 clients keep asking: 0 failures,
    and the new article is found without a restart."""
    directory = build_corpus_index(tmp_path, tiny_bert_dir)
    failures: list[str] = []
    counts = [0] * 4
    stop = threading.Event()

    def hammer(slot: int, url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                try:
                    response = client.get("/api/ask", params={"q": "moon rocket fuel", "k": 3, "mode": "auto"})
                    if response.status_code != 200 or not response.json()["hits"]:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                counts[slot] += 1

    with running_server(directory) as (url, live):
        clients = [threading.Thread(target=hammer, args=(i, url)) for i in range(4)]
        for client in clients:
            client.start()
        try:
            time.sleep(0.3)
            (tmp_path / "docs" / "space" / "comet.txt").write_text(
                "Comet Visits the Inner System\n\nA bright comet with a glowing zebrafish-green tail passed the sun.",
                encoding="utf-8",
            )
            index_paths([tmp_path / "docs"], directory)
            wait_for(lambda: live.generation == "gen-000002")
            (tmp_path / "docs" / "food" / "soup.html").unlink()
            index_paths([tmp_path / "docs"], directory)
            wait_for(lambda: live.generation == "gen-000003")
            time.sleep(0.3)
        finally:
            stop.set()
            for client in clients:
                client.join()
        assert failures == [] and sum(counts) > 20, (failures[:5], counts)
        found = httpx.get(url + "/api/ask", params={"q": "zebrafish comet", "mode": "lexical"}).json()["hits"]
        assert found[0]["title"] == "Comet Visits the Inner System"
        gone = httpx.get(url + "/api/ask", params={"q": "lentils onions carrots", "mode": "lexical", "k": 10}).json()
        assert all("soup" not in h["source"] for h in gone["hits"])
        assert not (directory / "gen-000001").exists()  # the first generation really went away under the clients


def test_a_question_whose_generation_vanished_is_asked_again(tmp_path, tiny_bert_dir):
    """A question that fails on a generation replaced under it is asked again of the new one; a failure on
    the newest generation is not hidden."""
    from index.serve.live import LiveIndex

    directory = build_corpus_index(tmp_path, tiny_bert_dir)
    with LiveIndex(directory, poll_seconds=3600, log=lambda line: None) as live:  # switches only on demand
        (tmp_path / "docs" / "extra.txt").write_text("Extra\n\nA short note about kites.", encoding="utf-8")
        index_paths([tmp_path / "docs"], directory)
        seen = []

        def question(searcher):
            seen.append(searcher.reader.manifest.generation)
            if len(seen) == 1:
                raise OSError("passages.sqlite: no such file")
            return searcher.ask("kites", mode="lexical").to_dict()

        assert live.run(question)["hits"][0]["title"] == "Extra"
        assert seen == ["gen-000001", "gen-000002"] and live.generation == "gen-000002"
        with pytest.raises(OSError):
            live.run(lambda searcher: (_ for _ in ()).throw(OSError("still broken")))


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                            ("0.0.0.0", False), ("192.168.1.4", False), ("example.org", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_listening_socket_is_tcp_so_responses_are_not_delayed():
    """asyncio turns Nagle off (TCP_NODELAY) for accepted connections only when the socket says IPPROTO_TCP;
    with proto 0 every response waited ~40 ms for the client's delayed ACK (measured: /healthz 44 ms -> 1.4 ms)."""
    import socket

    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_taken_port_is_one_error_line(corpus):
    taken = bind_socket("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--index", str(corpus[1]), "--port", str(port)])
    finally:
        taken.close()
    assert result.exit_code == 1 and "cannot listen on 127.0.0.1" in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_other_hosts_get_a_warning(corpus):
    """192.0.2.1 (TEST-NET-1) is no address of this machine: the warning comes first, then the bind fails,
    so nothing ever listens off loopback during the test."""
    result = runner.invoke(app, ["serve", "--index", str(corpus[1]), "--host", "192.0.2.1", "--port", "0"])
    assert result.exit_code == 1, result.output
    warning, error = result.stderr.strip().splitlines()
    assert "warning:" in warning and "192.0.2.1" in warning and "cannot listen on 192.0.2.1" in error


def test_serve_command_answers_and_stops_on_ctrl_c(corpus):
    """The real `semsearch serve` process on an ephemeral port: it answers, and SIGINT stops it with exit 0."""
    command = [sys.executable, "-m", "index.cli.quick", "serve", "--index", str(corpus[1]), "--port", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    try:
        lines = []
        while not any("serving" in line for line in lines):
            line = process.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        assert not any("warning:" in line for line in lines)
        port = int(lines[-1].split("http://127.0.0.1:")[1].split("/")[0])
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_missing_extra_is_one_line(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a))
    result = runner.invoke(app, ["serve", "--index", str(tmp_path)])
    assert result.exit_code == 1 and "semsearch[serve]" in result.stderr and "fastapi" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
