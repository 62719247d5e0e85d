"""Label intake in a running collector: ``POST /api/v1/labels`` and ``modeltel.label`` records,
bad input item by item, duplicates, labels before their predictions, and the counters."""

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn import metrics as sk

from tests.collector.processors.performance.otlp_events import (
    NS,
    api,
    label,
    prediction,
    send,
    with_performance,
)
from tests.conftest import Collector, launch_collector, wait_until


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    running = launch_collector(
        tmp_path, configure=with_performance(max_labels_per_request=50, max_label_request_bytes=20_000)
    )
    yield running
    running.process.stop()


def ids(count: int) -> list[str]:
    return [secrets.token_hex(16) for _ in range(count)]


def stored_predictions(collector: Collector, known: list[str], labels: list[int] | None = None) -> None:
    now = time.time_ns()
    send(collector, [prediction(i, 1, now - NS, {"0": 0.3, "1": 0.7}) for i in known])
    wait_until(lambda: collector.value("modeltel_join_store_predictions") >= len(known), what="stored")


def post(collector: Collector, body: object = None, **kwargs: object) -> httpx.Response:
    if body is not None:
        kwargs["json"] = body
    return httpx.post(api(collector, "labels"), timeout=10, **kwargs)


def labelled_window(collector: Collector, labelled: int) -> dict | None:
    """The 30d window of model m's status once it counts ``labelled`` labelled rows."""
    window = httpx.get(api(collector, "performance/m"), timeout=5).json()["versions"][0]["windows"][1]
    return window if window["labelled"] == labelled else None


def test_each_bad_item_is_named_and_costs_the_others_nothing(collector: Collector) -> None:
    known = ids(4)
    stored_predictions(collector, known)
    future = time.time() + 3600
    items = [
        {"prediction_id": known[0], "label": 1},  # 0 joined
        {"prediction_id": "not-an-id", "label": 1},  # 1
        {"prediction_id": known[1], "label": None},  # 2
        {"prediction_id": known[1], "label": [1, 0]},  # 3
        {"prediction_id": known[1], "label": "NaN"},  # 4
        {"prediction_id": known[1], "label": 1, "timestamp": "yesterday"},  # 5
        {"prediction_id": known[1], "label": 1, "timestamp": future},  # 6
        {"prediction_id": known[1], "label": 1, "extra": True},  # 7
        "just a string",  # 8
        {"prediction_id": 12345, "label": 1},  # 9
        {"prediction_id": known[1].upper(), "label": True, "timestamp": "2026-01-01T00:00:00"},  # 10 joined
        {"prediction_id": known[2], "label": 0.0, "timestamp": 1_700_000_000.25},  # 11 joined
    ]
    response = post(collector, {"labels": items})
    assert response.status_code == 200, response.text
    answer = response.json()
    reasons = {error["index"]: error["reason"] for error in answer["errors"]}
    assert reasons == {
        1: "prediction_id_invalid",
        2: "label_missing",
        3: "label_not_scalar",
        4: "label_not_finite",
        5: "timestamp_invalid",
        6: "timestamp_invalid",
        7: "unknown_key",
        8: "item_not_object",
        9: "prediction_id_invalid",
    }
    assert all(error["message"] for error in answer["errors"])
    assert (answer["received"], answer["accepted"], answer["joined"], answer["rejected"]) == (12, 3, 3, 9)
    assert collector.value("modeltel_labels_joined_total") == 3
    assert collector.value("modeltel_labels_received_total", source="api") == 12
    assert collector.value("modeltel_labels_invalid_total", reason="prediction_id_invalid") == 2
    assert collector.value("modeltel_labels_invalid_total", reason="timestamp_invalid") == 2


def test_literal_nan_is_refused_per_item(collector: Collector) -> None:
    known = ids(2)
    stored_predictions(collector, known)
    body = f'[{{"prediction_id": "{known[0]}", "label": NaN}}, {{"prediction_id": "{known[1]}", "label": 1}}]'
    response = post(collector, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["joined"] == 1
    assert [(e["index"], e["reason"]) for e in answer["errors"]] == [(0, "label_not_finite")]


def test_whole_requests_refused(collector: Collector) -> None:
    too_many = [{"prediction_id": secrets.token_hex(16), "label": 1} for _ in range(51)]
    answer = post(collector, {"labels": too_many})
    assert answer.status_code == 413 and "at most 50" in answer.json()["error"]
    huge = '[{"prediction_id": "' + "a" * 32 + '", "label": "' + "x" * 30_000 + '"}]'
    answer = post(collector, content=huge, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and "exceeds 20000" in answer.json()["error"]
    chunked = post(collector, content=iter([huge.encode()[:15_000], huge.encode()[15_000:]]))
    assert chunked.status_code == 413
    assert (
        post(collector, content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    )
    assert post(collector, {"labels": {"prediction_id": "a"}}).status_code == 400
    assert post(collector, {"items": []}).status_code == 400
    assert post(collector, content=b"[]", headers={"Content-Type": "text/csv"}).status_code == 415
    all_bad = post(collector, [{"prediction_id": "x", "label": 1}])
    assert all_bad.status_code == 400 and all_bad.json()["rejected"] == 1
    assert post(collector, []).json()["received"] == 0
    assert httpx.post(api(collector, "labels/more"), json=[], timeout=5).status_code == 404
    assert collector.value("modeltel_labels_invalid_total", reason="request_too_large") == 3
    assert collector.value("modeltel_labels_invalid_total", reason="request_malformed") == 3
    assert collector.value("modeltel_labels_joined_total") == 0


def test_duplicates_first_label_wins_and_early_labels_wait(collector: Collector) -> None:
    known = ids(3)
    early = ids(2)
    first = post(
        collector, [{"prediction_id": early[0], "label": 1}, {"prediction_id": early[1], "label": 0}]
    )
    assert first.json()["pending"] == 2
    assert collector.value("modeltel_labels_pending") == 2
    stored_predictions(collector, known + early[:1])
    wait_until(lambda: collector.value("modeltel_labels_joined_total") == 1, what="early label joined")
    assert collector.value("modeltel_labels_pending") == 1
    again = post(collector, [
        {"prediction_id": known[0], "label": 1},
        {"prediction_id": known[0], "label": 1},  # same in one request
        {"prediction_id": known[0], "label": 0},  # conflicting in one request
        {"prediction_id": early[0], "label": 0},  # conflicting with the joined early label
        {"prediction_id": early[1], "label": 0},  # same as the one still pending
    ]).json()  # fmt: skip
    assert (again["joined"], again["duplicate"], again["conflicting_duplicate"]) == (1, 2, 2)
    assert collector.value("modeltel_labels_duplicate_total", conflicting="true") == 2
    assert collector.value("modeltel_labels_duplicate_total", conflicting="false") == 2
    replay = post(collector, [{"prediction_id": known[0], "label": 0}]).json()
    assert replay["conflicting_duplicate"] == 1
    status = wait_until(lambda: labelled_window(collector, 2), what="two labelled rows evaluated")
    assert status["realized"]["accuracy"] == 1.0  # the first labels (1, 1) stand, not the later 0s


def test_bad_label_records_are_counted_and_forwarded(collector: Collector) -> None:
    known = ids(3)
    now = time.time_ns()
    send(collector, [
        prediction(known[0], "yes", now, {"yes": 0.9, "no": 0.1}),
        prediction(known[1], "no", now, {"yes": "0.2", "no": 0.8}),  # probability not a number
        prediction(known[2], "no", now, {"yes": 1.5, "no": -0.5}),  # out of [0, 1]
        prediction("zz", "no", now),
        label(known[0], "yes", now + NS),
        label("nope", "yes", now),
        label(known[1], None, now, body="{not json"),
        label(known[1], None, now, body='{"label": "Infinity"}'),
        label(known[1], None, now, body='{"label": {"a": 1}}'),
        label(known[1], None, now, body='{"other": 1}'),
    ])  # fmt: skip
    wait_until(lambda: collector.value("modeltel_labels_joined_total") == 1, what="one label joined")
    invalid = {
        reason: collector.value("modeltel_labels_invalid_total", reason=reason)
        for reason in ("label_id_invalid", "label_body_not_json", "label_not_finite", "label_not_scalar",
                       "label_missing")
    }  # fmt: skip
    assert invalid == dict.fromkeys(invalid, 1.0)
    assert collector.value("modeltel_labels_received_total", source="otlp") == 6
    assert collector.value("modeltel_performance_records_invalid_total", reason="probabilities_invalid") == 2
    assert collector.value("modeltel_performance_records_invalid_total", reason="prediction_id_invalid") == 1
    assert collector.value("modeltel_join_store_predictions") == 3  # kept, without probabilities
    assert collector.value("modeltel_prediction_records_total", ml_model_name="m") == 4  # all forwarded


def test_sample_rates_weight_metrics_and_coverage(collector: Collector) -> None:
    """A record kept with sample rate r stands for 1/r predictions, in the metrics and in coverage."""
    rng = np.random.default_rng(2)
    n = 40
    known = ids(n)
    rates = np.where(np.arange(n) % 2 == 0, 0.25, 1.0)
    predicted = rng.integers(0, 2, n)
    truth = rng.integers(0, 2, n)
    now = time.time_ns()
    send(collector, [prediction(known[i], int(predicted[i]), now - NS, sample_rate=float(rates[i]))
                     for i in range(n)])  # fmt: skip
    labelled = np.arange(n) % 5 != 0
    post(collector, [{"prediction_id": known[i], "label": int(truth[i])} for i in np.flatnonzero(labelled)])
    window = wait_until(lambda: labelled_window(collector, int(labelled.sum())), what="labelled rows")
    weights = 1 / rates
    assert window["coverage"] == pytest.approx(weights[labelled].sum() / weights.sum())
    assert window["realized"]["accuracy"] == pytest.approx(
        sk.accuracy_score(truth[labelled], predicted[labelled], sample_weight=weights[labelled])
    )
    assert collector.value("modeltel_label_coverage_ratio", window="30d") == pytest.approx(window["coverage"])


def test_label_delay_is_label_time_minus_prediction_time(collector: Collector) -> None:
    known = ids(3)
    hour_ago = time.time_ns() - 3600 * NS
    send(collector, [prediction(i, 1, hour_ago) for i in known])
    wait_until(lambda: collector.value("modeltel_join_store_predictions") == 3, what="stored")
    post(collector, [
        {"prediction_id": known[0], "label": 1, "timestamp": hour_ago / NS + 120},  # two minutes later
        {"prediction_id": known[1], "label": 1},  # now: an hour later
        {"prediction_id": known[2], "label": 1, "timestamp": hour_ago / NS - 60},  # before: counted as 0
    ])  # fmt: skip

    def bucket(le: str) -> float:
        return collector.value("modeltel_label_delay_seconds_bucket", ml_model_name="m", le=le)

    assert collector.value("modeltel_label_delay_seconds_count", ml_model_name="m") == 3
    assert (bucket("60.0"), bucket("300.0"), bucket("3600.0"), bucket("21600.0")) == (1, 2, 2, 3)
    assert collector.value("modeltel_label_delay_seconds_sum", ml_model_name="m") == pytest.approx(
        3720, abs=30
    )
