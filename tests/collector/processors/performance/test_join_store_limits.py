"""The join store's bounds in a running collector: size-bound eviction of the oldest
predictions and held labels, TTL expiry of both, each counted; and the store's own
behaviour on reopening (what a restart sees)."""

import secrets
import sqlite3
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


def test_expiry_and_eviction_follow_arrival_order(tmp_path: Path) -> None:
    """Without an expiry index, TTL and size bounds walk the rows in arrival (rowid) order."""
    now = [1000.0]
    store = JoinStore(tmp_path / "store.sqlite", 15, 3600, 25, 1000, clock=lambda: now[0])
    arrivals = []
    for seed, arrival in enumerate((0.0, 10.0, 20.0)):
        now[0] = 1000.0 + arrival
        batch, identifiers = rows(store, 10, seed=seed)
        store.add_predictions(batch)
        arrivals.append(identifiers)
    assert store.predictions == 25  # the bound evicted the five oldest arrivals
    statuses = store.add_labels([(i, 1, 0) for i in arrivals[0]]).statuses  # five of the first batch left
    assert sorted(statuses) == ["joined"] * 5 + ["pending"] * 5
    now[0] = 1026.0  # the first two batches are past their 15 s
    expired = store.expire()
    assert (expired.predictions, expired.unlabelled_predictions) == (15, 10)
    assert store.add_labels([(i, 0, 0) for i in arrivals[2]]).statuses == ["joined"] * 10
    assert (store.predictions, store.awaiting) == (10, 0)
    store.close()


_FIRST_LAYOUT = """
CREATE TABLE streams (id INTEGER PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL,
    classes TEXT NOT NULL DEFAULT '[]', UNIQUE (model, version));
CREATE TABLE segment_sets (id INTEGER PRIMARY KEY, stream INTEGER NOT NULL, value TEXT NOT NULL,
    UNIQUE (stream, value));
CREATE TABLE predictions (id BLOB PRIMARY KEY, stream INTEGER NOT NULL, time INTEGER NOT NULL,
    expires INTEGER NOT NULL, predicted, proba BLOB, weight REAL, segment INTEGER, label,
    label_time INTEGER) WITHOUT ROWID;
CREATE INDEX predictions_by_time ON predictions (stream, time);
CREATE INDEX predictions_by_expiry ON predictions (expires);
CREATE TABLE pending_labels (id BLOB PRIMARY KEY, label NOT NULL, label_time INTEGER NOT NULL,
    expires INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX pending_by_expiry ON pending_labels (expires);
INSERT INTO streams (id, model, version, classes) VALUES (1, 'm', '1', '["0","1"]');
"""


def test_store_of_the_first_layout_is_rewritten_with_its_rows(tmp_path: Path) -> None:
    """A store written by the first release (WITHOUT ROWID, expiry index) opens with every
    row, label and held label kept, and its oldest arrivals (by expiry) still evicted first."""
    path = tmp_path / "store.sqlite"
    rng = np.random.default_rng(3)
    identifiers = [rng.bytes(16) for _ in range(6)]
    first = sqlite3.connect(path)
    first.executescript(_FIRST_LAYOUT)
    first.executemany(
        "INSERT INTO predictions (id, stream, time, expires, predicted, label, label_time)"
        " VALUES (?, 1, ?, ?, 1, ?, ?)",
        [(i, 100 + n, 10_000_000 - n, 1 if n % 2 else None, 200 if n % 2 else None)
         for n, i in enumerate(identifiers)],
    )  # fmt: skip  # expiry descending: the last id is the oldest arrival
    first.execute("INSERT INTO pending_labels VALUES (?, 0, 5, 9999999999999)", (bytes(16),))
    first.commit()
    first.close()

    store = JoinStore(path, 3600, 3600, 5, 1000)
    assert (store.predictions, store.awaiting, store.pending) == (6, 3, 1)
    assert store._db.execute("PRAGMA user_version").fetchone() == (1,)
    stream = store.streams[("m", "1")]
    assert stream.classes == ["0", "1"]
    statuses = store.add_labels([(identifiers[0], 1, 300), (identifiers[1], 0, 300)]).statuses
    assert statuses == ["joined", "conflicting_duplicate"]
    late = NewPredictions([bytes(16)], [stream.id], [50], [0], [None], [None], [None])
    outcome = store.add_predictions(late)  # the held label joins; the bound of 5 evicts one
    assert (len(outcome.joins), outcome.evicted) == (1, 2)
    kept = {row[0] for row in store._db.execute("SELECT id FROM predictions")}
    assert identifiers[5] not in kept and identifiers[4] not in kept and bytes(16) in kept
    store.close()
