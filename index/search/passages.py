"""One stored passage with where it sits in its document (the ids of the passages before and after it),
for servers that show or cite a passage: GET /api/passages/{id} and the MCP `get` tool."""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
    ids = [s.passage.id for s in searcher.reader.store.passages_of(p.source)]
    at = ids.index(p.id)
    previous = ids[at - 1] if at > 0 else None
    following = ids[at + 1] if at + 1 < len(ids) else None
    return PassageView(p.id, p.source, p.title, p.ordinal, p.start, p.end, p.text, previous, following, p.page)
