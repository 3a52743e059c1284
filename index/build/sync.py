"""Bring the passage store in line with freshly read documents; count what changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from embed.records import ChunkerSettings, Document
from index.storage.store import Store, StoredDocument


@dataclass(frozen=True)
class DocumentSync:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0

    @property
    def diff(self) -> tuple[int, int, int, int]:
        return self.added, self.updated, self.removed, self.unchanged

    def __add__(self, other: DocumentSync) -> DocumentSync:
        return DocumentSync(*(a + b for a, b in zip(self.diff, other.diff)))


def in_scope(path: str, scope: Sequence[Path] | None) -> bool:
    """Is a stored document under one of the indexed roots? (scope None: everything is.)"""
    if scope is None:
        return True
    target = Path(path)
    return any(target == root or root in target.parents for root in scope)


def sync_documents(
    store: Store,
    documents: Sequence[Document],
    scope: Sequence[Path] | None,
    counter,
    settings: ChunkerSettings,
    chunker_key: str,
) -> DocumentSync:
    """Replace changed documents' passages, drop documents that vanished from ``scope``."""
    from embed.text.chunking import chunk_document

    before = store.documents()
    latest = {doc.source: doc for doc in documents}  # a repeated source: the last one wins
    total = DocumentSync()
    for source, doc in latest.items():
        prior = before.get(source)
        if prior and prior.digest == doc.digest and prior.chunker == chunker_key:
            total += DocumentSync(unchanged=prior.passages)
            continue
        total += replace_document(store, doc, chunk_document(doc, counter, settings), chunker_key)
    for source, prior in before.items():
        if source not in latest and in_scope(prior.path, scope):
            store.delete_document(source)
            total += DocumentSync(removed=prior.passages)
    return total


def replace_document(store: Store, doc: Document, passages, chunker_key: str) -> DocumentSync:
    old = {p.passage.id: p for p in store.passages_of(doc.source)}
    added = updated = unchanged = 0
    for passage in passages:
        prior = old.get(passage.id)
        if prior is None:
            added += 1
        elif prior.digest == passage.digest and prior.passage.title == passage.title:
            unchanged += 1
        else:
            updated += 1
    removed = len(set(old) - {p.id for p in passages})
    store.delete_document(doc.source)
    for passage in passages:
        store.insert_passage(passage)
    path = str(Path(doc.path).resolve())
    store.put_document(StoredDocument(doc.source, path, doc.title, doc.digest, chunker_key, len(passages)))
    return DocumentSync(added, updated, removed, unchanged)


def documents_unchanged(stored: dict[str, StoredDocument], documents: Sequence[Document], scope, chunker_key: str) -> bool:
    """Would :func:`sync_documents` leave ``stored`` as it is? (Same content hashes and chunker, nothing gone.)"""
    latest = {doc.source: doc for doc in documents}
    for source, doc in latest.items():
        prior = stored.get(source)
        if prior is None or prior.digest != doc.digest or prior.chunker != chunker_key:
            return False
    return not any(source not in latest and in_scope(prior.path, scope) for source, prior in stored.items())
