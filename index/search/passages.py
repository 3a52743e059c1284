"""One stored passage with where it sits in its document (the ids of the passages before and after it),
for servers that show or cite a passage: GET /api/passages/{id} and the MCP `get` tool."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from index.errors import UnknownPassage
from index.search.searcher import Searcher


@dataclass(frozen=True)
class PassageView:
    id: str
    source: str
    title: str
    ordinal: int  # the passage's position in its document, from 0
    start: int  # character offsets of the passage in the document's text
    end: int
    text: str
    previous: str | None  # the neighbours' ids in the same document (None at either end)
    next: str | None
    page: int | None = None  # the page the passage starts on (PDFs), as `ask --json` hits carry it

    def to_dict(self) -> dict:
        return asdict(self)


def view_passage(searcher: Searcher, passage_id: str) -> PassageView:
    """The passage ``passage_id`` and its neighbours' ids; UnknownPassage (with a suggestion) if absent."""
    stored = searcher.anchor(passage_id)
    p = stored.passage
    previous, following = searcher.reader.store.neighbour_ids(p.source, p.ordinal)
    return PassageView(p.id, p.source, p.title, p.ordinal, p.start, p.end, p.text, previous, following, p.page)


def view_passages(searcher: Searcher, ids: list[str]) -> dict[str, Any]:
    """The passages found, in the order asked, and the ids that are not there; UnknownPassage if none is."""
    found, missing, first_problem = [], [], None
    for passage_id in ids:
        try:
            found.append(view_passage(searcher, passage_id).to_dict())
        except UnknownPassage as exc:
            missing.append({"id": passage_id, "error": " ".join(str(exc).split())})
            first_problem = first_problem or exc
    if not found:
        raise first_problem
    return {"passages": found, "missing": missing} if missing else {"passages": found}
