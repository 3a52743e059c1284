"""The HTTP API and web page (`semsearch serve`): a thin, read-only layer over the same library calls as
the CLI, answering from a LiveIndex.

    GET /api/ask?q=...&k=5&mode=auto            what `semsearch ask --json` prints
    GET /api/related?id=...|text=...&k=5&other_articles=false&mode=auto
                                                what `semsearch related --json` prints
    GET /api/passages/{id}                      one passage and its neighbours' ids
    GET /api/info                               what `semsearch info --json` prints
    GET /healthz                                {"status": "ok", "generation": ...} (503 without an index)
    GET /  /static/app.js  /static/style.css    the web page (three fixed files; no path reaches the disk)
    GET /docs                                   OpenAPI documentation

Every error is ``{"error": "one line"}`` with 400 (bad argument), 404 (unknown passage or route),
413 (question, text or request too large), 503 (no index or no model), never a stack trace.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from embed.errors import EmbedError, ModelUnavailable
from index.errors import BadQuery, IndexBusy, IndexCorrupt, IndexNotFound, SemsearchError, UnknownPassage
from index.search.highlight import best_sentence_lexical, pick_highlights
from index.search.passages import view_passage
from index.search.searcher import MODES
from index.serve.live import IndexUnavailable, LiveIndex, one_line

MAX_QUESTION_CHARS = 1_000  # a question longer than this is not a question: 413
MAX_TEXT_CHARS = 10_000  # `related` text: a few paragraphs
MAX_K = 100
MAX_URL_BYTES = 16_384  # path + query string
MAX_BODY_BYTES = 0  # the API is read-only: no request carries a body
WEB = Path(__file__).with_name("web")
STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
# the page loads only its own files: no CDN, no inline script, nothing sent elsewhere
PAGE_POLICY = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
# /docs: swagger-ui's page has an inline script, so it is served without the page's policy
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/openapi.json")
DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}

log = logging.getLogger("semsearch.serve")
Mode = Literal["auto", "hybrid", "dense", "lexical"]
assert set(Mode.__args__) == set(MODES)  # noqa: S101 - the API offers exactly the searcher's modes


class TooLarge(SemsearchError):
    """A question, text or request over its bound: 413."""


def status_of(exc: BaseException) -> int:
    if isinstance(exc, TooLarge):
        return 413
    if isinstance(exc, UnknownPassage):
        return 404
    if isinstance(exc, (IndexUnavailable, IndexNotFound, IndexCorrupt, IndexBusy, ModelUnavailable)):
        return 503
    return 400  # BadQuery, NoVectors, ... : the request cannot be answered as asked


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def bounded(value: str, limit: int, what: str) -> str:
    if len(value) > limit:
        raise TooLarge(f"the {what} has {len(value)} characters; at most {limit} are accepted")
    return value


def check_k(k: int) -> int:
    if not 1 <= k <= MAX_K:
        raise BadQuery(f"k must be between 1 and {MAX_K} (got {k})")
    return k


def with_highlights(result, searcher, how: str) -> dict:
    """The --json object with each hit's best sentence as "highlight": [start, end] in its text.

    "words": the sentence sharing most words with the question (instant); "meaning": the sentence whose
    embedding is nearest the question's (as the terminal shows it; encodes every sentence of every hit,
    about a second for ten abstracts on one core, during which this generation answers nothing else)."""
    payload = result.to_dict()
    if how == "meaning":
        spans = pick_highlights(result, searcher) if result.hits else {}
    else:
        spans = {hit.id: best_sentence_lexical(result.query, hit.text) for hit in result.hits}
    for hit in payload["hits"]:
        span = spans.get(hit["id"])
        hit["highlight"] = list(span) if span else None
    return payload


def create_app(live: LiveIndex) -> FastAPI:
    swagger = local_swagger_ui()
    app = FastAPI(
        title="semsearch", version="1", docs_url=None if swagger else "/docs", redoc_url=None,
        description="Read-only semantic search over a local semsearch index. Responses are what the CLI's "
        "--json prints; errors are {\"error\": \"...\"} with 400, 404, 413 or 503.",
    )
    install_guards(app)
    if swagger:
        add_local_docs(app, swagger)

    @app.get("/api/ask", summary="Passages closest in meaning to a question (= semsearch ask --json)")
    async def ask(
        q: str = Query(..., description=f"The question (at most {MAX_QUESTION_CHARS} characters)."),
        k: int = Query(5, description=f"How many passages (1..{MAX_K})."),
        mode: Mode = Query("auto", description="auto: hybrid when the index has vectors, else lexical."),
        highlight: Literal["none", "words", "meaning"] = Query(
            "none", description="Add each hit's best sentence as \"highlight\": [start, end]: by shared words "
            "(instant) or by meaning (embeds every sentence; slow). none: exactly what --json prints."
        ),
    ) -> JSONResponse:
        question, k = bounded(q, MAX_QUESTION_CHARS, "question"), check_k(k)

        def answer(searcher):
            result = searcher.ask(question, k=k, mode=mode)
            return result.to_dict() if highlight == "none" else with_highlights(result, searcher, highlight)

        return JSONResponse(await live.run_async(answer))

    @app.get("/api/related", summary="Passages nearest a stored passage or a text (= semsearch related --json)")
    async def related(
        id: str | None = Query(None, description="A passage id, e.g. docs/a.txt#3 (or give text)."),  # noqa: A002
        text: str | None = Query(None, description=f"A text to match instead (at most {MAX_TEXT_CHARS} characters)."),
        k: int = Query(5, description=f"How many passages (1..{MAX_K})."),
        other_articles: bool = Query(False, description="Only passages of other documents."),
        mode: Mode = Query("auto", description="auto: dense for a passage id, hybrid for a text."),
    ) -> JSONResponse:
        if (id is None) == (text is None):
            raise BadQuery("give either id=PASSAGE_ID or text=... (exactly one)")
        if text is not None:
            bounded(text, MAX_TEXT_CHARS, "text")
        check_k(k)
        return JSONResponse(await live.run_async(
            lambda s: s.related(id, text=text, k=k, other_articles=other_articles, mode=mode).to_dict()
        ))

    @app.get("/api/passages/{passage_id:path}", summary="One passage and the ids of its neighbours")
    async def passage(passage_id: str) -> JSONResponse:
        return JSONResponse(await live.run_async(lambda s: view_passage(s, passage_id).to_dict()))

    @app.get("/api/info", summary="What the index holds (= semsearch info --json)")
    def info() -> dict:
        return live.info()

    @app.get("/healthz", summary="200 while an index generation is being answered from, else 503")
    def healthz() -> dict:
        generation = live.generation
        if generation is None:
            raise IndexUnavailable(live.problem)
        return {"status": "ok", "generation": generation}

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB / "index.html", media_type="text/html", headers={"Content-Security-Policy": PAGE_POLICY})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        if name not in STATIC:  # a fixed list: no request names a file on disk
            return error(404, f"no such file: /static/{name}")
        return FileResponse(WEB / name, media_type=STATIC[name])

    return app


def local_swagger_ui() -> Path | None:
    """swagger-ui's files from the swagger-ui-bundle package, so /docs works offline; None: FastAPI's CDN page."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return Path(str(swagger_ui_path))


def add_local_docs(app: FastAPI, assets: Path) -> None:
    from fastapi.openapi.docs import get_swagger_ui_html

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="semsearch API", swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css", swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )

    @app.get("/docs-assets/{name}", include_in_schema=False)
    def docs_asset(name: str):
        if name not in DOCS_ASSETS:  # a fixed list, as for the page's own files
            return error(404, f"no such file: /docs-assets/{name}")
        return FileResponse(assets / name, media_type=DOCS_ASSETS[name])


class Guards:
    """Bounds on every request (URL size, no body) and the security headers on every response, as a plain
    ASGI middleware (Starlette's BaseHTTPMiddleware costs about a millisecond a request)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        url_bytes = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"").strip()
        if url_bytes > MAX_URL_BYTES:
            problem = f"the request URL has {url_bytes} bytes; at most {MAX_URL_BYTES} are accepted"
        elif length not in (b"", b"0") or b"chunked" in headers.get(b"transfer-encoding", b""):
            problem = "this API is read-only and takes no request body"
        else:
            problem = None
        if problem:
            return await error(413, problem)(scope, receive, send)
        page = scope["path"] not in DOCS_PATHS

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                extra = MutableHeaders(scope=message)
                extra.setdefault("X-Content-Type-Options", "nosniff")
                if page:
                    extra.setdefault("Content-Security-Policy", PAGE_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_guards(app: FastAPI) -> None:
    """Bounds on every request, and every failure as {"error": ...}."""

    app.add_middleware(Guards)

    @app.exception_handler(SemsearchError)
    async def library_error(request: Request, exc: SemsearchError) -> JSONResponse:
        return error(status_of(exc), one_line(exc))

    @app.exception_handler(EmbedError)
    async def embed_error(request: Request, exc: EmbedError) -> JSONResponse:
        return error(status_of(exc), one_line(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_arguments(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for problem in exc.errors():
            where = ".".join(str(part) for part in problem.get("loc", ())[1:]) or "request"
            problems.append(f"{where}: {problem.get('msg', 'invalid')}")
        return error(400, "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error(exc.status_code, f"{message}: {request.method} {request.url.path}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s", request.url.path)  # the trace goes to the server log only
        return error(500, "internal error; the server log has the details")
