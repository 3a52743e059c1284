"""`semsearch mcp` through the official SDK's client: in memory and over stdio (a real subprocess):
list the tools, call each, and bad arguments are errors, never ignored."""

from __future__ import annotations

import json
import sys

import anyio
import pytest

from index.serve.live import LiveIndex
from index.serve.mcp import build_server
from tests.servekit import ROOT, build_corpus_index, moon_id

pytest.importorskip("mcp")
from mcp import Client, StdioServerParameters  # noqa: E402

TOOLS = {"search", "get", "related", "info"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny_bert_dir):
    root = tmp_path_factory.mktemp("mcp")
    return root, build_corpus_index(root, tiny_bert_dir)


@pytest.fixture(scope="module")
def live(corpus):
    with LiveIndex(corpus[1], log=lambda line: None) as handle:
        yield handle



def payload(result) -> dict:
    assert not result.is_error, result.content
    text = json.loads(result.content[0].text)
    assert result.structured_content == text  # the same object for clients that read either
    return text


async def exercise(client, directory) -> None:
    """List the tools and call each one the way an agent would; check what comes back."""
    moon = moon_id(directory)
    listed = await client.list_tools()
    assert {tool.name for tool in listed.tools} == TOOLS
    for tool in listed.tools:
        assert tool.input_schema.get("additionalProperties") is False and tool.description
    found = payload(await client.call_tool("search", {"query": "Who landed on the moon?", "k": 3}))
    assert found["mode"] == "hybrid" and len(found["hits"]) == 3
    assert all(hit["id"] and hit["source"] and hit["title"] for hit in found["hits"])
    lexical = payload(await client.call_tool("search", {"query": "wild yeast starter", "k": 1, "mode": "lexical"}))
    assert lexical["hits"][0]["title"] == "Baking Sourdough at Home"
    got = payload(await client.call_tool("get", {"ids": [moon]}))["passages"]
    assert got[0]["id"] == moon and got[0]["source"] == moon.split("#")[0]
    assert got[0]["title"] == "Moon Landing Anniversary" and got[0]["previous"] is None
    partial = payload(await client.call_tool("get", {"ids": ["nowhere.txt#3", moon]}))
    assert [p["id"] for p in partial["passages"]] == [moon]
    assert partial["missing"][0]["id"] == "nowhere.txt#3" and "no passage" in partial["missing"][0]["error"]
    near = payload(await client.call_tool("related", {"id": moon, "k": 2, "other_articles": True}))
    assert near["hits"] and all(hit["source"] != got[0]["source"] for hit in near["hits"])
    assert payload(await client.call_tool("related", {"text": "lentil soup", "k": 1}))["hits"]
    info = payload(await client.call_tool("info", {}))
    assert info["documents"] == 4 and info["vectors_present"]


BAD_CALLS = [
    ("search", {"query": "moon", "bogus": 1}, "bogus"),
    ("search", {"query": "moon", "k": "3"}, "valid integer"),
    ("search", {"query": "moon", "k": 0}, "greater than or equal to 1"),
    ("search", {"query": "moon", "k": 101}, "less than or equal to 100"),
    ("search", {"query": "moon", "mode": "magic"}, "mode"),
    ("search", {"query": ""}, "at least 1 character"),
    ("search", {"query": "   "}, "empty"),
    ("search", {"k": 3}, "query"),
    ("get", {"ids": []}, "at least 1 item"),
    ("get", {"ids": "a#1"}, "valid list"),
    ("get", {"ids": ["nowhere.txt#3"]}, "no passage 'nowhere.txt#3'"),
    ("related", {}, "exactly one of id or text"),
    ("related", {"id": "a#1", "text": "b"}, "exactly one of id or text"),
    ("related", {"id": "a#1", "other_articles": "yes"}, "valid boolean"),
    ("info", {"verbose": True}, "verbose"),
]


async def check_bad_calls(client) -> None:
    for name, arguments, needle in BAD_CALLS:
        result = await client.call_tool(name, arguments)
        message = result.content[0].text
        assert result.is_error and needle in message, (name, arguments, message)
        assert "Traceback" not in message
    unknown = await client.call_tool("delete_everything", {})
    assert unknown.is_error and "Unknown tool" in unknown.content[0].text


def test_in_memory(live, corpus):
    async def main() -> None:
        async with Client(build_server(live)) as client:
            await exercise(client, corpus[1])
            await check_bad_calls(client)

    anyio.run(main)


def test_over_stdio_subprocess(corpus):
    """`semsearch mcp --index DIR` as an MCP client launches it: a subprocess speaking JSON-RPC on stdio."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "index.cli.quick", "mcp", "--index", str(corpus[1])], cwd=str(ROOT)
    )

    async def main() -> None:
        with anyio.fail_after(120):
            async with Client(params) as client:
                await exercise(client, corpus[1])
                await check_bad_calls(client)

    anyio.run(main)


def test_no_index_is_an_error_result(tmp_path):
    with LiveIndex(tmp_path / "none", log=lambda line: None) as empty:
        async def main() -> None:
            async with Client(build_server(empty)) as client:
                result = await client.call_tool("search", {"query": "moon"})
                assert result.is_error and "no index at" in result.content[0].text

        anyio.run(main)


def test_over_streamable_http(corpus):
    """`semsearch mcp --http --port 0`: the SDK's client over streamable HTTP on loopback; Ctrl-C stops it."""
    import os
    import signal
    import subprocess

    command = [sys.executable, "-m", "index.cli.quick", "mcp", "--index", str(corpus[1]), "--http", "--port", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    try:
        line = ""
        while "/mcp" not in line:
            line = process.stderr.readline()
            assert line, "the MCP server did not start"
        url = "http://127.0.0.1:" + line.split("http://127.0.0.1:")[1].split(";")[0]

        async def main() -> None:
            with anyio.fail_after(60):
                async with Client(url) as client:
                    await exercise(client, corpus[1])

        anyio.run(main)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) in (0, 130)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
