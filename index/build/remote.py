"""Writing a generation to a store outside the index directory (index/stores: Milvus).

The builder's local ``GenerationJob`` writes a whole folder; here the folder holds only the writer's
ledger (passages.sqlite: documents, passages, digests, pks: what incremental runs compare against) and
the store receives the changes: passages whose pk is new (vectors reused by content hash from the
store, or encoded) and the pks that are gone. Nothing is visible to readers until the manifest names
the generation (index/stores/milvus.py explains how the rows stay invisible until then).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from embed.records import ChunkerSettings
from index.build.sync import sync_documents
from index.storage.atomic import fsync_path
from index.storage.manifest import Counts, Manifest
from index.storage.store import Store, connect
from index.stores.base import NewRow, StoreError, VectorStore


@dataclass(frozen=True)
class RemoteResult:
    diff: tuple[int, int, int, int]  # added, updated, removed, unchanged (documents' passages)
    encoded: int
    counts: Counts
    description: dict  # what the manifest's "faiss" slot records
    store: dict  # what the manifest's "store" slot records


def generation_number(name: str | None) -> int | None:
    return None if not name else int(str(name).rsplit("-", 1)[-1])


@dataclass(frozen=True)
class RemoteGenerationJob:
    """``write`` makes generation ``gen_dir.name`` in ``store``: ledger here, passages and vectors there."""

    directory: Path
    gen_dir: Path
    old: Manifest | None  # the generation this run builds on; None: first build or --rebuild
    live: Manifest | None  # the index readers see now (kept answering, even during a --rebuild)
    store: VectorStore
    encoder: object  # the run's encoder: dimension, model id (and the default way to encode)
    encode: Callable[[list[str]], np.ndarray]  # texts -> unit vectors (local batches, or a Ray pool)
    checkpoint: Callable[[str], None]

    def write(self, documents, scope, counter, settings: ChunkerSettings) -> RemoteResult:
        if self.encoder is None:
            raise StoreError("the Milvus store keeps a vector for every passage, and the model could not be "
                             "loaded; make it loadable (see `semsearch index --help`) and run again")
        committed = generation_number(self.old.generation) if self.old is not None else None
        active = (self.live.store or {}).get("active") if self.live is not None else None
        number = generation_number(self.gen_dir.name)
        self.store.start_run(active, number, fresh=self.old is None)
        self.store.recover(committed)
        self.gen_dir.mkdir(parents=True)
        db_path = self.gen_dir / "passages.sqlite"
        if self.old is not None:
            shutil.copyfile(self.directory / str(self.old.generation) / self.old.files["passages"], db_path)
        ledger = Store(connect(db_path))
        self.checkpoint("db-copied")
        try:
            before = {pk for pk, _ in ledger.pks_and_digests()}
            key = json.dumps(asdict(settings), sort_keys=True)  # as the builder keys a chunker
            sync = sync_documents(ledger, documents, scope, counter, settings, key)
            rows = ledger.pks_and_digests()
            removed = sorted(before - {pk for pk, _ in rows})
            added, encoded = self.new_rows(ledger, [pk for pk, _ in rows if pk not in before], committed)
            self.checkpoint("before-commit")
            ledger.conn.commit()
            passages = ledger.count("passages")
            counts = Counts(ledger.count("documents"), passages, passages)
        finally:
            ledger.close()
        self.store.write_generation(number, added, removed, self.encoder.dimension, self.encoder.model_id)
        self.checkpoint("arrays-written")
        for path in self.gen_dir.iterdir():
            fsync_path(path)
        fsync_path(self.gen_dir)
        return RemoteResult(sync.diff, encoded, counts, self.store.describe(), self.store.manifest_entry())

    def new_rows(self, ledger: Store, pks: list[int], committed: int | None) -> tuple[list[NewRow], int]:
        """The passages with new pks, each with its vector: the store's by digest when it has one, else encoded."""
        stored = ledger.passages_by_pk(pks)
        digests = list(dict.fromkeys(stored[pk].digest for pk in pks))
        known = self.store.known_vectors(digests, committed) if committed is not None and digests else {}
        todo = [d for d in digests if d not in known]
        if todo:
            text_of = {stored[pk].digest: stored[pk].passage.text for pk in pks}
            known.update(zip(todo, self.encode([text_of[d] for d in todo])))
        out = []
        for pk in pks:
            s = stored[pk]
            p = s.passage
            out.append(NewRow(pk, p.id, p.source, p.title, p.ordinal, p.start, p.end, p.text, s.digest, known[s.digest]))
        return out, len(todo)
