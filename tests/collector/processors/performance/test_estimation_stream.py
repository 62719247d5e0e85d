"""Label-free estimation in a running collector: a profile with a labelled reference (the
breast-cancer set scikit-learn ships) gives the baseline series and calibrates the estimator;
predictions of a covariate-shifted split are streamed without labels, the estimate and its
band are exported, and once the labels arrive the realized metrics fall inside the bands and
the gap series is estimated minus realized on the same rows."""

import secrets
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modeltel.drift import build_profile
from tests.collector.processors.performance.otlp_events import NS, api, prediction, send, with_performance
from tests.conftest import Collector, launch_collector, launch_prometheus, wait_until

MODEL = {"ml_model_name": "cancer", "ml_model_version": "1"}


def gauges(
    collector: Collector, name: str, window: str | None = "30d", model: str = "cancer"
) -> dict[str, float]:
    return {
        s.labels["metric"]: s.value
        for s in collector.samples()
        if s.name == name
        and s.labels.get("ml_model_name") == model
        and (window is None or s.labels.get("window") == window)
    }


def test_estimates_track_realized_on_shifted_data(tmp_path: Path) -> None:
    data = load_breast_cancer(as_frame=True)
    x, y = data.data, data.target.to_numpy()
    train_x, rest_x, train_y, rest_y = train_test_split(x, y, test_size=0.6, random_state=11)
    ref_x, live_x, ref_y, live_y = train_test_split(rest_x, rest_y, test_size=0.5, random_state=11)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)).fit(train_x, train_y)

    reference = ref_x.copy()
    reference[["proba_0", "proba_1"]] = model.predict_proba(ref_x)
    reference["prediction"] = model.predict(ref_x)
    reference["label"] = ref_y
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    profile = build_profile(
        reference, model="cancer", version="1", prediction_columns=["prediction"],
        score_columns=["proba_0", "proba_1"], target_column="label",
    )  # fmt: skip
    profile.save(profiles / "cancer.json")

    shifted = live_x["mean radius"] > live_x["mean radius"].median()  # larger tumours only
    live_x, live_y = live_x[shifted], live_y[shifted]
    proba = model.predict_proba(live_x)
    predicted = model.predict(live_x)
    ids = [secrets.token_hex(16) for _ in range(len(live_y))]

    collector = launch_collector(tmp_path, configure=with_performance(profiles_dir=str(profiles)))
    try:
        now = time.time_ns()
        send(collector, [
            prediction(i, int(p), now - NS, {"0": float(a), "1": float(b)}, model="cancer", version="1")
            for i, p, (a, b) in zip(ids, predicted, proba, strict=True)
        ])  # fmt: skip
        baseline = wait_until(
            lambda: gauges(collector, "modeltel_model_performance_baseline", None), what="base"
        )
        assert baseline == pytest.approx(profile.performance.baseline)
        estimated = wait_until(
            lambda: gauges(collector, "modeltel_model_performance_estimated"), what="estimate"
        )
        assert {"accuracy", "precision", "recall", "f1", "roc_auc"} <= set(estimated)
        lower = gauges(collector, "modeltel_model_performance_estimated_lower")
        upper = gauges(collector, "modeltel_model_performance_estimated_upper")
        assert all(lower[m] <= estimated[m] <= upper[m] for m in estimated)
        assert gauges(collector, "modeltel_model_performance") == {}  # no labels yet
        assert collector.value("modeltel_label_coverage_ratio", window="30d") == 0

        answer = httpx.post(
            api(collector, "labels"),
            json=[{"prediction_id": i, "label": int(t)} for i, t in zip(ids, live_y, strict=True)],
            timeout=10,
        ).json()
        assert answer["joined"] == len(ids)
        realized = wait_until(lambda: gauges(collector, "modeltel_model_performance"), what="realized")
        gap = gauges(collector, "modeltel_model_performance_estimation_gap")
        for metric in ("accuracy", "precision", "recall", "f1", "roc_auc"):
            assert lower[metric] <= realized[metric] <= upper[metric], metric
            assert gap[metric] == pytest.approx(realized[metric] - estimated[metric], abs=1e-9), metric

        # "below X% of baseline" is one PromQL rule: the series match once the window label is ignored
        prometheus = launch_prometheus(tmp_path, collector.metrics_port)
        try:
            realized_30d = 'modeltel_model_performance{window="30d"}'
            ratio = f"{realized_30d} / ignoring(window) modeltel_model_performance_baseline"
            found = wait_until(lambda: prometheus.query(ratio), timeout=30, what="ratio to baseline")
            ratios = {r["metric"]["metric"]: float(r["value"][1]) for r in found}
            assert set(ratios) == set(realized) & set(baseline)
            for metric, value in ratios.items():
                assert value == pytest.approx(realized[metric] / baseline[metric]), metric
        finally:
            prometheus.process.stop()
    finally:
        collector.process.stop()


def test_profile_without_labels_gives_no_estimate(tmp_path: Path) -> None:
    """A profile built without a target has no performance section: no baseline, no estimate,
    realized metrics still computed from joined labels."""
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"x": rng.normal(size=500), "prediction": rng.integers(0, 2, 500)})
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    build_profile(reference, model="m", version="1", prediction_columns=["prediction"]).save(
        profiles / "m.json"
    )
    collector = launch_collector(tmp_path, configure=with_performance(profiles_dir=str(profiles)))
    try:
        ids = [secrets.token_hex(16) for _ in range(20)]
        send(
            collector, [prediction(i, k % 2, time.time_ns(), {"0": 0.5, "1": 0.5}) for k, i in enumerate(ids)]
        )
        httpx.post(api(collector, "labels"), json=[{"prediction_id": i, "label": 1} for i in ids], timeout=10)
        realized = wait_until(
            lambda: gauges(collector, "modeltel_model_performance", model="m"), what="realized"
        )
        assert realized["accuracy"] == 0.5
        names = {s.name for s in collector.samples()}
        assert not names & {"modeltel_model_performance_estimated", "modeltel_model_performance_baseline"}
    finally:
        collector.process.stop()
