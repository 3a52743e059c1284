"""The MCP server (`semsearch mcp`): tools an agent calls to search the index and cite what it found.

    search(query, k=5, mode="auto")                 -> what `semsearch ask --json` prints
    get(ids)                                        -> {"passages": [passage with source, title, page, ordinal,
                                                        start, end, text, previous, next]}
    related(id | text, k=5, other_articles=False)   -> what `semsearch related --json` prints
    info()                                          -> what `semsearch info --json` prints

Arguments are validated strictly: an unknown argument, a wrong type or an out-of-range value is an
error result naming it, never silently ignored or coerced. Every hit carries its id and source.
Runs over stdio (what MCP clients launch) or streamable HTTP on 127.0.0.1 (--http).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from embed.errors import EmbedError
from index.errors import BadQuery, SemsearchError
from index.search.passages import view_passages
from index.serve.live import LiveIndex, one_line

MAX_K = 100
MAX_IDS = 50
MAX_QUESTION_CHARS = 1_000
MAX_TEXT_CHARS = 10_000
STRICT = ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=True)

Query = Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="A question in plain language.")]
K = Annotated[int, Field(ge=1, le=MAX_K, description="How many passages to return.")]
Mode = Literal["auto", "hybrid", "dense", "lexical"]

INSTRUCTIONS = (
    "Semantic search over a local document index. Call `search` with a question; each hit has an id "
    "(cite it as `source#n`), source file, title, score and text. `get` returns full passages with their "
    "neighbours' ids, `related` finds passages near a passage id or a text, `info` describes the index."
)


def build_server(live: LiveIndex):
    """An MCPServer whose four tools answer from ``live``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.tools import Tool

    def search(query: Query, k: K = 5, mode: Mode = "auto") -> dict[str, Any]:
        """Passages of the index closest in meaning to `query`; hits carry id, source, title, score, text.
        mode: auto (hybrid when the index has vectors), hybrid, dense (embeddings) or lexical (BM25)."""
        return answer(live, lambda s: s.ask(query, k=k, mode=mode).to_dict())

    def get(ids: Annotated[list[str], Field(min_length=1, max_length=MAX_IDS, description="Passage ids, e.g. "
                                                "['docs/a.txt#3'], as returned by search.")]) -> dict[str, Any]:
        """Full passages by id: text, source file, title, page (PDFs), position (ordinal, start, end) and the
        ids of the passages before and after it in its document. Ids not in the index are listed under
        "missing" with the reason (and the nearest id when there is one); an error only if none is found."""
        return answer(live, lambda s: view_passages(s, ids))

    def related(
        id: Annotated[str | None, Field(description="A passage id to find neighbours of.")] = None,  # noqa: A002
        text: Annotated[str | None, Field(max_length=MAX_TEXT_CHARS, description="Or a text to match.")] = None,
        k: K = 5,
        other_articles: Annotated[bool, Field(description="Only passages of other documents.")] = False,
    ) -> dict[str, Any]:
        """Passages nearest to a stored passage (never itself) or to a text; give exactly one of id, text."""
        if (id is None) == (text is None):
            raise_tool_error(BadQuery("give exactly one of id or text"))
        return answer(live, lambda s: s.related(id, text=text, k=k, other_articles=other_articles).to_dict())

    def info() -> dict[str, Any]:
        """What the index holds: model, counts, size, dates, generation."""
        return answer(live, None)

    tools = [strict_tool(Tool.from_function(fn, structured_output=True)) for fn in (search, get, related, info)]
    return MCPServer("semsearch", instructions=INSTRUCTIONS, tools=tools, log_level="WARNING")


def strict_tool(tool):
    """The tool with its argument model closed: unknown arguments and lax coercions ("5" for 5) are errors,
    and its published JSON schema says so (additionalProperties: false)."""
    base = tool.fn_metadata.arg_model
    closed = type(base.__name__, (base,), {"model_config": STRICT, "__module__": base.__module__})
    tool.fn_metadata.arg_model = closed
    tool.parameters = closed.model_json_schema(by_alias=True)
    return tool


def answer(live: LiveIndex, question) -> dict[str, Any]:
    """Run a question (None: info) on the live index; a library error becomes the tool's error text."""
    try:
        return live.info() if question is None else live.run(question)
    except (SemsearchError, EmbedError) as exc:
        raise_tool_error(exc)


def raise_tool_error(exc: BaseException):
    from mcp.server.mcpserver.exceptions import ToolError

    raise ToolError(one_line(exc)) from None


def run_mcp(live: LiveIndex, *, sock=None) -> None:
    """Serve over stdio until the client closes it, or, given a bound socket (index/serve/server.py),
    over streamable HTTP at http://HOST:PORT/mcp."""
    server = build_server(live)
    if sock is None:
        server.run("stdio")
        return
    from index.serve.server import serve_forever

    serve_forever(server.streamable_http_app(host=sock.getsockname()[0]), sock)
