"""embed/parallel.py: batches encoded side by side give the same rows, in order, with errors surfaced."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from embed.encode.parallel import map_batches

TEXTS = [f"passage number {i} about " + "rivers and mountains " * (i % 7) for i in range(23)]


class Concurrency:
    """Counts how many threads are inside a block at once."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


class FakeModel:
    def __init__(self) -> None:
        self.tokenizing, self.encoding = Concurrency(), Concurrency()

    def preprocess(self, batch: list[int]) -> list[int]:
        with self.tokenizing:
            time.sleep(0.005)
            return batch

    def encode(self, batch: list[int]) -> list[int]:
        tokens = self.preprocess(batch)
        with self.encoding:
            time.sleep(0.01)
        return [t * 10 for t in tokens]


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_results_come_back_in_batch_order(workers: int):
    batches = [[i, i + 1] for i in range(0, 40, 2)]
    pairs = list(map_batches(lambda b: [x * 2 for x in b], batches, workers=workers))
    assert [batch for batch, _ in pairs] == batches
    assert [result for _, result in pairs] == [[x * 2 for x in b] for b in batches]


def test_tokenizing_is_serialised_while_encoding_overlaps_and_the_method_is_restored():
    model = FakeModel()
    batches = [[i] for i in range(16)]
    results = [r for _, r in map_batches(model.encode, batches, workers=4, model=model)]
    assert results == [[i * 10] for i in range(16)]
    assert model.tokenizing.peak == 1
    assert model.encoding.peak > 1  # the workers really ran side by side
    assert "preprocess" not in vars(model)  # the class method is back
    assert model.preprocess([3]) == [3]


def test_workers_use_one_thread_each_and_the_caller_keeps_its_own():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    seen = [n for _, n in map_batches(lambda b: torch.get_num_threads(), [[1], [2], [3]], workers=2)]
    assert seen == [1, 1, 1]
    assert torch.get_num_threads() == before


def test_an_error_in_a_worker_is_raised_and_later_batches_are_cancelled():
    started: list[int] = []

    def encode(batch: list[int]) -> list[int]:
        started.append(batch[0])
        time.sleep(0.01)
        if batch[0] == 1:
            raise ValueError("bad batch")
        return batch

    with pytest.raises(ValueError, match="bad batch"):
        list(map_batches(encode, [[i] for i in range(50)], workers=2))
    assert len(started) < 50


def test_stopping_early_cancels_the_rest():
    started: list[int] = []

    def encode(batch: list[int]) -> list[int]:
        started.append(batch[0])
        time.sleep(0.01)
        return batch

    for _ in map_batches(encode, [[i] for i in range(50)], workers=2):
        break
    assert len(started) < 50


@pytest.mark.parametrize("workers", [2, 3])
def test_encoder_rows_match_one_batch_at_a_time(tiny_bert_dir, workers: int):
    from embed.encode.sentence_transformers import SentenceTransformerEncoder, load_encoder

    serial = load_encoder(str(tiny_bert_dir))
    serial.workers = 1
    parallel = SentenceTransformerEncoder(serial.model, serial.model_id, workers=workers)
    calls: list[tuple[int, int]] = []
    rows = parallel.encode_documents(TEXTS, batch_size=4, progress=lambda d, t: calls.append((d, t)))
    np.testing.assert_allclose(rows, serial.encode_documents(TEXTS, batch_size=4), atol=1e-5)
    assert calls == [(min(n, 23), 23) for n in range(4, 27, 4)]
