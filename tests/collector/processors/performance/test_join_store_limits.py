"""The join store's bounds in a running collector: size-bound eviction of the oldest
predictions and held labels, TTL expiry of both, each counted; and the store's own
behaviour on reopening (what a restart sees)."""

import secrets
import time
from pathlib import Path

import httpx
import numpy as np

from modeltel.collector.processors.performance.segments import SegmentSets
from modeltel.collector.processors.performance.store import JoinStore, NewPredictions
from tests.collector.processors.performance.otlp_events import api, prediction, send, with_performance
from tests.conftest import Collector, launch_collector, wait_until


def test_size_bound_evicts_oldest_and_ttl_expires_everything(tmp_path: Path) -> None:
    collector = launch_collector(
        tmp_path,
        configure=with_performance(
            state_dir=str(tmp_path / "state"), max_predictions=30, max_pending_labels=5,
            prediction_ttl="3s", label_ttl="1s", expiry_interval="200ms",
        ),
    )  # fmt: skip
    try:
        now = time.time_ns()
        ids = [secrets.token_hex(16) for _ in range(40)]
        for start in range(0, 40, 10):  # four batches: the first ten arrive first
            send(collector, [prediction(i, 1, now, {"0": 0.4, "1": 0.6}) for i in ids[start : start + 10]])
        assert collector.value("modeltel_join_store_predictions") == 30
        assert collector.value("modeltel_join_store_evicted_total", kind="prediction", reason="size") == 10
        answer = post_labels(collector, [{"prediction_id": i, "label": 1} for i in ids[:3] + ids[35:]])
        assert (answer["pending"], answer["joined"]) == (3, 5)  # the evicted ones are unknown now
        early = [{"prediction_id": secrets.token_hex(16), "label": 0} for _ in range(4)]
        assert post_labels(collector, early)["pending"] == 4
        assert collector.value("modeltel_labels_pending") == 5  # bound: the two oldest went
        assert collector.value("modeltel_join_store_evicted_total", kind="label", reason="size") == 2
        wait_until(
            lambda: collector.value("modeltel_join_store_evicted_total", kind="label", reason="ttl") == 5,
            timeout=10, what="held labels expired",
        )  # fmt: skip
        wait_until(lambda: collector.value("modeltel_join_store_predictions") == 0, timeout=10, what="expiry")
        assert (
            collector.value("modeltel_join_store_evicted_total", kind="prediction_unlabelled", reason="ttl")
            == 25
        )
        assert (
            collector.value("modeltel_join_store_evicted_total", kind="prediction_labelled", reason="ttl")
            == 5
        )
        assert collector.value("modeltel_labels_pending") == 0
        assert collector.value("modeltel_join_store_awaiting_labels") == 0
    finally:
        collector.process.stop()


def post_labels(collector: Collector, items: list[dict]) -> dict:
    response = httpx.post(api(collector, "labels"), json=items, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def rows(store: JoinStore, count: int, seed: int) -> tuple[NewPredictions, list[bytes]]:
    rng = np.random.default_rng(seed)
    stream = store.stream("m", "1")
    identifiers = [rng.bytes(16) for _ in range(count)]
    batch = NewPredictions(
        identifiers, [stream.id] * count, list(range(count)), [int(v) for v in rng.integers(0, 2, count)],
        [None] * count, [None] * count, [None] * count,
    )  # fmt: skip
    return batch, identifiers


def test_reopened_store_keeps_rows_joins_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = JoinStore(path, 3600, 3600, 1000, 1000)
    batch, identifiers = rows(store, 10, seed=1)
    assert store.add_predictions(batch).inserted == 10
    assert store.add_predictions(batch).duplicates == 10  # the same ids again: first rows kept
    early = bytes(16)
    outcome = store.add_labels([(identifiers[0], 1, 5000), (early, "x", 7000), (identifiers[1], 0, 9000)])
    assert outcome.statuses == ["joined", "pending", "joined"]
    assert sorted(join.delay_s for join in outcome.joins) == [5.0, 8.999]
    store.close()

    reopened = JoinStore(path, 3600, 3600, 1000, 1000)
    assert (reopened.predictions, reopened.awaiting, reopened.pending) == (10, 8, 1)
    assert reopened.stream("m", "1").id == batch.streams[0]
    late = NewPredictions([early], [batch.streams[0]], [1000], ["x"], [None], [None], [None])
    assert len(reopened.add_predictions(late).joins) == 1  # the held label meets its prediction
    assert (reopened.predictions, reopened.awaiting, reopened.pending) == (11, 8, 0)
    assert reopened.add_labels([(identifiers[0], 0, 1)]).statuses == ["conflicting_duplicate"]
    reopened.close()


def test_segment_cap_survives_reopening(tmp_path: Path) -> None:
    """Values admitted before a restart stay segments; a value refused stays ``_other``."""
    path = tmp_path / "store.sqlite"
    store = JoinStore(path, 3600, 3600, 1000, 1000)
    stream = store.stream("m", "1")
    sets = SegmentSets(store, max_values=2)
    rows = [{"region": r} for r in ("eu", "us", "apac", "_missing", "eu")]
    first = sets.ids(stream, ("region",), rows)
    assert [store.segment_values[i]["region"] for i in first] == ["eu", "us", "_other", "_missing", "eu"]
    store.close()

    reopened = JoinStore(path, 3600, 3600, 1000, 1000)
    later = [{"region": "apac"}, {"region": "us"}, {"region": "latam"}]
    again = SegmentSets(reopened, max_values=2).ids(reopened.stream("m", "1"), ("region",), later)
    assert [reopened.segment_values[i]["region"] for i in again] == ["_other", "us", "_other"]
    assert again[1] == first[1]
    reopened.close()
