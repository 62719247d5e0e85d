"""Segments in a running collector: performance and selection rate per value of a record
attribute (``region``) and of a feature (``plan``, capped at three values plus ``_other``), and
the disparities between groups, checked against scikit-learn on each group's rows."""

import secrets
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn import metrics as sk

from tests.collector.processors.performance.otlp_events import NS, api, prediction, send, with_performance
from tests.conftest import Collector, launch_collector, wait_until


def segment_series(collector: Collector, name: str, segment: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(v for k, v in sorted(s.labels.items()) if k in ("segment_value", "metric")): s.value
        for s in collector.samples()
        if s.name == name and s.labels.get("segment") == segment and s.labels.get("window") == "30d"
    }


def test_metrics_selection_rates_and_disparity_per_segment(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    n = 600
    region = rng.choice(["eu", "us", "apac"], size=n)
    plan = rng.choice(["free", "pro", "team", "enterprise"], size=n)
    skill = np.where(region == "eu", 0.9, np.where(region == "us", 0.75, 0.6))  # accuracy per region
    truth = rng.integers(0, 2, n)
    predicted = np.where(rng.uniform(size=n) < skill, truth, 1 - truth)
    p1 = np.clip(np.where(predicted == 1, 0.8, 0.2) + rng.normal(0, 0.1, n), 0.01, 0.99).round(4)
    ids = [secrets.token_hex(16) for _ in range(n)]
    collector = launch_collector(
        tmp_path, configure=with_performance(segment_by=["region", "plan"], max_segment_values=3)
    )
    try:
        now = time.time_ns()
        records = [
            prediction(ids[i], int(predicted[i]), now - NS, {"0": float(1 - p1[i]), "1": float(p1[i])},
                       features={"plan": str(plan[i]), "x": 1.0},
                       attributes={"region": str(region[i])} if i % 50 else {})  # every 50th: no region
            for i in range(n)
        ]  # fmt: skip
        send(collector, records)
        labelled = np.arange(n) % 3 != 0  # a third stays unlabelled: selection rate still uses it
        answer = httpx.post(
            api(collector, "labels"),
            json=[{"prediction_id": ids[i], "label": int(truth[i])} for i in np.flatnonzero(labelled)],
            timeout=10,
        )
        assert answer.json()["joined"] == labelled.sum()

        regions = np.where(np.arange(n) % 50 == 0, "_missing", region)
        performance = wait_until(
            lambda: segment_series(collector, "modeltel_segment_performance", "region"), what="segments"
        )
        for group in ("eu", "us", "apac", "_missing"):
            rows = labelled & (regions == group)
            assert performance[("accuracy", group)] == pytest.approx(
                sk.accuracy_score(truth[rows], predicted[rows])
            )
            assert performance[("recall", group)] == pytest.approx(
                sk.recall_score(truth[rows], predicted[rows])
            )
        selection = segment_series(collector, "modeltel_segment_selection_rate", "region")
        for group in ("eu", "us", "apac", "_missing"):
            assert selection[(group,)] == pytest.approx(predicted[regions == group].mean())
        disparity = {
            k[0]: v for k, v in segment_series(collector, "modeltel_segment_disparity", "region").items()
        }
        accuracy = [performance[("accuracy", g)] for g in ("eu", "us", "apac")]  # _missing has < 30 rows
        assert disparity["accuracy_difference"] == pytest.approx(max(accuracy) - min(accuracy))
        rates = [selection[(g,)] for g in ("eu", "us", "apac")]
        assert disparity["selection_rate_ratio"] == pytest.approx(min(rates) / max(rates))

        plans = {k[0] for k in segment_series(collector, "modeltel_segment_selection_rate", "plan")}
        first_three = list(dict.fromkeys(plan.tolist()))[:3]  # capped: the first three seen, then _other
        assert plans == {*first_three, "_other"}
    finally:
        collector.process.stop()
