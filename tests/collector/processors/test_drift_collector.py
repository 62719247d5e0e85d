"""The drift processor in a running collector: windows closing on live timestamps, verdicts on
/metrics and the status API, quality ratios, late records, exemplars, restarts, bootstrap,
bad input, and a real Prometheus scraping the series."""

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.collector.otlp_batches import logs_request, prediction_record
from tests.collector.processors.drift_streams import NUMERIC, batch, sample, write_profile
from tests.conftest import Collector, launch_collector, launch_prometheus, wait_until

WINDOW = 2.0
NS = 1_000_000_000


def with_drift(**settings: object) -> Callable[[dict], None]:
    def configure(config: dict) -> None:
        config["processors"]["drift"] = {
            "window": "2s", "long_window": "6s", "allowed_lateness": "1s",
            "persistence_k": 1, "persistence_m": 1, "checkpoint_interval": "500ms", **settings,
        }  # fmt: skip
        config["service"]["pipelines"]["logs"]["processors"] = ["predictions", "drift"]

    return configure


def send(collector: Collector, request: ExportLogsServiceRequest, chunk: int = 1000) -> None:
    """POST the request's records in requests of ``chunk`` records (the test receiver takes 1 MiB)."""
    records = list(request.resource_logs[0].scope_logs[0].log_records)
    for offset in range(0, len(records), chunk):
        response = httpx.post(
            f"{collector.otlp_http}/v1/logs",
            content=logs_request(records[offset : offset + chunk]).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=30,
        )
        assert response.status_code == 200, response.text


def live_times(rows: int, seed: int) -> np.ndarray:
    """Event times in the current 2 s window, none in the future: wait for its second 0.7 s,
    then spread the rows from its start to now, as live traffic would be."""
    while not 0.7 <= time.time() % WINDOW <= 1.3:
        time.sleep(0.05)
    now = time.time_ns()
    start = now - now % int(WINDOW * NS)
    return np.sort(np.random.default_rng(seed).integers(start + NS // 20, now, size=rows))


def status(collector: Collector, model: str = "", **params: str) -> dict:
    url = f"http://127.0.0.1:{collector.metrics_port}/api/v1/models" + (f"/{model}" if model else "")
    response = httpx.get(url, params=params, timeout=5)
    response.raise_for_status()
    return response.json()


def windows_closed(collector: Collector, n: int, model: str = "churn") -> dict:
    def done() -> dict | None:
        found = status(collector, model)["versions"][0]
        return found if found["windows"] >= n else None

    return wait_until(done, timeout=15, what=f"{n} closed windows")  # type: ignore[return-value]


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    write_profile(tmp_path / "profiles")
    return tmp_path / "profiles"


def test_drifted_window_is_flagged_with_quality_ratios_exemplars_and_late_records(
    tmp_path: Path, profiles: Path
) -> None:
    collector = launch_collector(tmp_path, configure=with_drift(profiles_dir=str(profiles)))
    try:
        times = live_times(3000, seed=2)
        send(collector, batch(sample(3000, seed=2), times, tag=1))
        first = windows_closed(collector, 1)
        assert first["window"]["report"]["drifted_features"] == []
        assert collector.value("modeltel_feature_drift", feature="x0", window="2s") == 0
        assert collector.value("modeltel_dataset_drift", window="2s") == 0

        drifted = sample(3000, seed=3, drifted=True)
        overrides = {i: {"x1": None} for i in range(0, 3000, 5)}  # 20 % missing
        for i in range(1, 3000, 20):
            overrides[i] = {"x2": 50.0}  # 5 % out of the reference range
        for i in range(2, 3000, 20):
            overrides[i] = {"city": "zzz"}  # 5 % new category
        for i in range(3, 3000, 50):
            overrides[i] = {"x3": "oops", "extra": 1.0}  # 2 % type errors; a feature the profile lacks
        send(collector, batch(drifted, live_times(3000, seed=3), tag=2, overrides=overrides))
        second = windows_closed(collector, 2)
        flagged = set(second["window"]["report"]["drifted_features"])
        assert {"x0", "city", "prediction", "proba_1"} <= flagged
        assert not flagged & {"x1", "x3", "x4", "x5"}
        value = collector.value
        assert value("modeltel_feature_drift", feature="x0", window="2s") == 1
        assert value("modeltel_feature_drift", feature="x3", window="2s") == 0
        assert value("modeltel_feature_drift_score", feature="x0", window="2s") >= value(
            "modeltel_feature_drift_threshold", feature="x0", window="2s"
        )
        assert value("modeltel_prediction_drift", window="2s") == 1
        assert value("modeltel_feature_missing_ratio", feature="x1", window="2s") == pytest.approx(0.2)
        assert value("modeltel_feature_out_of_range_ratio", feature="x2", window="2s") == pytest.approx(0.05)
        assert value("modeltel_feature_new_category_ratio", feature="city", window="2s") == pytest.approx(
            0.05
        )
        assert value("modeltel_feature_type_error_ratio", feature="x3", window="2s") == pytest.approx(0.02)
        assert value("modeltel_feature_type_error_ratio", feature="x4", window="2s") == 0
        assert value("modeltel_feature_absent", feature="x4", window="2s") == 0  # present: schema kept
        assert value("modeltel_unexpected_features", ml_model_name="churn", window="2s") == 1
        assert value("modeltel_multivariate_drift_score", window="2s") > 0
        # The long view (6 s) merges both windows.
        long_view = status(collector, "churn", version="3")["versions"][0]["long_view"]
        assert long_view["report"]["records"] == 6000
        assert value("modeltel_feature_drift_score", feature="x0", window="6s") > 0

        # Exemplars: trace ids of drifted-window records, from x0's most-shifted bins.
        x0_traces = second["window"]["exemplars"]["x0"]
        assert x0_traces and all(t.startswith("02") for t in x0_traces)
        openmetrics = httpx.get(
            collector.metrics_url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        ).text
        line = next(
            line for line in openmetrics.splitlines()
            if line.startswith('modeltel_feature_drift_windows_total{feature="x0"')
        )  # fmt: skip
        assert '# {trace_id="02' in line

        # Records for the closed first window are late: counted, not added.
        late = times[:10] - times[:10] % int(WINDOW * NS) + NS // 10
        send(collector, batch(sample(10, seed=4), late, tag=3))
        assert value("modeltel_drift_late_records_total", ml_model_name="churn") == 10
        assert value("modeltel_drift_records_total", use="windowed") == 6000
    finally:
        collector.process.stop()


def test_bad_input_is_counted_and_costs_nothing_else(tmp_path: Path, profiles: Path) -> None:
    collector = launch_collector(
        tmp_path, configure=with_drift(profiles_dir=str(profiles), bootstrap_records=0)
    )
    try:
        data = sample(200, seed=5)
        good = batch(data, live_times(200, seed=5))
        records = list(good.resource_logs[0].scope_logs[0].log_records)
        now = time.time_ns()
        bad = [
            prediction_record({}, 0, body="not json", time_unix_nano=now),
            prediction_record({}, 0, body='{"features": [1, 2]}', time_unix_nano=now),
            prediction_record(
                {"x0": "high", "x1": "NaN", "x2": "Infinity", "city": 7}, 1, time_unix_nano=now
            ),
            prediction_record({"x0": 0.1}, 1, sample_rate=0.0, time_unix_nano=now),
            prediction_record({"x0": 0.1}, 1, sample_rate=-1.0, time_unix_nano=now),
            prediction_record({"x0": 0.1}, 1, sample_rate=2.0, time_unix_nano=now),
            prediction_record({"x0": 0.1}, 1, sample_rate="half", time_unix_nano=now),
            prediction_record({"x0": 0.1}, 1, model="unknown", time_unix_nano=now),
            prediction_record({"x0": 0.1}, 1, time_unix_nano=now + 3600 * NS),
        ]
        send(collector, logs_request(records + bad))
        value = collector.value
        wait_until(
            lambda: value("modeltel_drift_records_total", use="windowed") == 205, what="windowed records"
        )
        assert value("modeltel_drift_records_invalid_total", reason="body_not_json") == 1
        assert value("modeltel_drift_records_invalid_total", reason="features_missing") == 1
        assert value("modeltel_drift_records_invalid_total", reason="sample_rate_invalid") == 4
        assert value("modeltel_drift_records_invalid_total", reason="no_profile") == 1
        assert value("modeltel_drift_records_invalid_total", reason="future_timestamp") == 1
        # Every record still reaches the exporters.
        assert value("modeltel_exporter_sent_total", exporter="debug", signal="logs") == 209
        report = windows_closed(collector, 1)["window"]["report"]
        x0, x1, x2 = (next(f for f in report["features"] if f["name"] == n) for n in ("x0", "x1", "x2"))
        assert x0["quality"]["type_error_ratio"] > 0  # "high" in a numeric feature
        assert x1["quality"]["nonfinite_ratio"] > 0 and x2["quality"]["nonfinite_ratio"] > 0
        assert report["records"] == 205
        assert "collector ready" in collector.process.log() and "Traceback" not in collector.process.log()
    finally:
        collector.process.stop()


def checkpoint_of(tmp_path: Path) -> Path:
    return tmp_path / "state" / "drift.json"


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_restart_keeps_windows(tmp_path: Path, profiles: Path, stop: str) -> None:
    configure = with_drift(profiles_dir=str(profiles), state_dir=str(tmp_path / "state"), long_window="1h")
    collector = launch_collector(tmp_path, configure=configure)
    send(collector, batch(sample(1000, seed=6), live_times(1000, seed=6)))
    windows_closed(collector, 1)
    if stop == "sigterm":
        assert collector.process.stop() == 0
    else:
        wait_until(lambda: checkpoint_of(tmp_path).exists(), what="a checkpoint")
        time.sleep(1.0)  # one more checkpoint after the window closed
        os.kill(collector.process.popen.pid, signal.SIGKILL)
        collector.process.popen.wait()
    assert checkpoint_of(tmp_path).exists()

    restarted = launch_collector(tmp_path, configure=configure)
    try:
        before = status(restarted, "churn")["versions"][0]
        assert before["windows"] == 1
        assert before["long_view"]["report"]["records"] == 1000  # the closed window survived
        send(restarted, batch(sample(1000, seed=7), live_times(1000, seed=7)))
        after = windows_closed(restarted, 2)
        assert after["long_view"]["report"]["records"] == 2000
    finally:
        restarted.process.stop()


def test_corrupt_checkpoint_is_logged_and_ignored(tmp_path: Path, profiles: Path) -> None:
    checkpoint_of(tmp_path).parent.mkdir()
    checkpoint_of(tmp_path).write_text('{"format": 1, "streams": [{"model": "churn"')
    collector = launch_collector(tmp_path, configure=with_drift(state_dir=str(tmp_path / "state")))
    try:
        assert status(collector)["models"] == []
        assert "checkpoint" in collector.process.log() and "ignored" in collector.process.log()
    finally:
        collector.process.stop()


def test_bootstrap_reference_from_first_records(tmp_path: Path) -> None:
    collector = launch_collector(tmp_path, configure=with_drift(bootstrap_records=3000))
    try:
        send(collector, batch(sample(2000, seed=8), live_times(2000, seed=8)))
        listed = status(collector)["models"]
        assert listed[0]["reference"].startswith("bootstrapping (2000/3000")
        # 1000 more complete the reference; the next 3000 are tested against it.
        send(collector, batch(sample(4000, seed=9), live_times(4000, seed=9)))
        first = windows_closed(collector, 1)
        assert first["reference"] == "bootstrap"
        assert first["window"]["report"]["records"] == 3000
        assert first["window"]["report"]["drifted_features"] == []
        send(collector, batch(sample(3000, seed=10, drifted=True), live_times(3000, seed=10), tag=2))
        second = windows_closed(collector, 2)
        assert {"x0", "city"} <= set(second["window"]["report"]["drifted_features"])
        assert collector.value("modeltel_drift_records_total", use="reference") == 3000
    finally:
        collector.process.stop()


def test_prometheus_scrapes_drift_scores_and_exemplars(tmp_path: Path, profiles: Path) -> None:
    collector = launch_collector(tmp_path, configure=with_drift(profiles_dir=str(profiles)))
    prometheus = launch_prometheus(tmp_path, collector.metrics_port)
    try:
        send(collector, batch(sample(3000, seed=11, drifted=True), live_times(3000, seed=11), tag=2))
        windows_closed(collector, 1)
        query = 'modeltel_feature_drift_score{feature="x0",window="2s",ml_model_name="churn"}'
        result = wait_until(lambda: prometheus.query(query), what="drift score in Prometheus")
        assert float(result[0]["value"][1]) > 0.01  # type: ignore[index]

        def exemplars() -> list:
            response = httpx.get(
                f"{prometheus.url}/api/v1/query_exemplars",
                params={"query": 'modeltel_feature_drift_windows_total{feature="x0"}',
                        "start": time.time() - 600, "end": time.time() + 60},
            )  # fmt: skip
            return [e for series in response.json()["data"] for e in series["exemplars"]]

        found = wait_until(exemplars, what="an exemplar in Prometheus")
        assert found[0]["labels"]["trace_id"].startswith("02")  # type: ignore[index]
    finally:
        prometheus.process.stop()
        collector.process.stop()


def test_a_feature_absent_from_a_whole_window_is_exported_as_a_schema_change(
    tmp_path: Path, profiles: Path
) -> None:
    collector = launch_collector(tmp_path, configure=with_drift(profiles_dir=str(profiles)))
    try:
        data, times = sample(500, seed=6), live_times(500, seed=6)
        records = [
            prediction_record(
                {name: data[name][i] for name in [*NUMERIC, "city"] if name != "x5"},
                data["prediction"][i], model="churn", version="3", time_unix_nano=int(times[i]),
            )
            for i in range(500)
        ]  # fmt: skip
        send(collector, logs_request(records))
        report = windows_closed(collector, 1)["window"]["report"]
        assert report["missing_features"] == ["x5"]
        assert collector.value("modeltel_feature_absent", feature="x5", window="2s") == 1
        assert collector.value("modeltel_feature_absent", feature="x4", window="2s") == 0
        assert collector.value("modeltel_unexpected_features", window="2s") == 0
    finally:
        collector.process.stop()
