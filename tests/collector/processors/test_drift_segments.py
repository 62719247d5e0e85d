"""Drift per segment in a running collector: a shift confined to one segment value is flagged in
that segment only, the cap folds extra values into ``_other``, records without the attribute go
to ``_missing``, the model's own series keep their labels, and a restart keeps the segments."""

from pathlib import Path

import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from modeltel.collector.processors.drift import DriftConfig
from tests.collector.processors.drift_streams import batch, sample, write_profile
from tests.collector.processors.test_drift_collector import (
    checkpoint_of,
    live_times,
    send,
    status,
    windows_closed,
    with_drift,
)
from tests.collector.processors.test_drift_processor import NS, T0, close_all, processor
from tests.conftest import Collector, launch_collector, launch_prometheus, wait_until

INPUTS = {"x0", "x1", "x2", "x3", "x4", "x5", "city"}
FEATURE_LABELS = {"ml_model_name", "ml_model_version", "feature", "window"}


def by_segment(found: dict) -> dict[tuple[str, str], dict]:
    return {(s["segment"], s["segment_value"]): s for s in found["segments"]}


def samples_of(collector: Collector, name: str, **labels: str) -> list:
    return [
        s for s in collector.samples()
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]  # fmt: skip


def regional_stream(rows: int, seed: int, shifted: str | None) -> tuple[dict, list[dict]]:
    """A seeded stream with a ``region`` attribute per row; x0 of ``shifted``'s rows moves 1 sd."""
    data = sample(rows, seed=seed)
    regions = np.random.default_rng(seed).choice(["eu", "us", "apac"], size=rows)
    if shifted is not None:
        x0 = np.asarray(data["x0"])
        data["x0"] = np.where(regions == shifted, x0 + 1.0, x0).round(5).tolist()
    return data, [{"region": str(r)} for r in regions]


def test_drift_in_one_segment_is_flagged_in_that_segment_only(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    write_profile(profiles)
    collector = launch_collector(
        tmp_path, configure=with_drift(profiles_dir=str(profiles), segment_by=["region"])
    )
    try:
        data, attributes = regional_stream(6000, seed=31, shifted="eu")
        send(collector, batch(data, live_times(6000, seed=31), attributes=attributes))
        found = windows_closed(collector, 1)
        segments = by_segment(found)
        assert set(segments) == {("region", "eu"), ("region", "us"), ("region", "apac")}
        listed = status(collector)["models"][0]["segments"]
        assert {(s["segment"], s["segment_value"], s["windows"]) for s in listed} == {
            ("region", r, 1) for r in ("eu", "us", "apac")
        }
        assert sum(s["window"]["report"]["records"] for s in segments.values()) == 6000
        eu = set(segments["region", "eu"]["window"]["report"]["drifted_features"])
        assert "x0" in eu and not eu & (INPUTS - {"x0"})
        for other in ("us", "apac"):
            assert segments["region", other]["window"]["report"]["drifted_features"] == []
            assert segments["region", other]["drift_share"] == 0
        assert segments["region", "eu"]["drift_share"] == 1 / 7

        value = collector.value
        assert (
            value("modeltel_feature_drift", segment="region", segment_value="eu", feature="x0", window="2s")
            == 1
        )
        assert (
            value("modeltel_feature_drift", segment="region", segment_value="us", feature="x0", window="2s")
            == 0
        )
        assert value("modeltel_feature_drift_score", segment="region", segment_value="eu", feature="x0") > 0
        assert (
            value("modeltel_feature_quality_issue", segment="region", segment_value="us", issue="absent") == 0
        )
        assert (
            value("modeltel_dataset_drift_share", segment="region", segment_value="eu", window="2s") == 1 / 7
        )
        # The model's own series: one per feature and view, exactly the labels they always had.
        whole = [
            s
            for s in samples_of(collector, "modeltel_feature_drift", feature="x0")
            if "segment" not in s.labels
        ]
        assert len(whole) == 2 and all(set(s.labels) == FEATURE_LABELS for s in whole)
        assert found["window"]["report"]["records"] == 6000
        # Counters stay per model: one increment per model window, none per segment.
        assert value("modeltel_drift_windows_closed_total") == 1
        assert value("modeltel_drift_records_total", use="windowed") == 6000
    finally:
        collector.process.stop()


def test_cap_folds_extra_values_into_other_and_missing_attributes_into_missing(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    write_profile(profiles)
    configure = with_drift(profiles_dir=str(profiles), segment_by=["region", "city"], max_segment_values=2)
    collector = launch_collector(tmp_path, configure=configure)
    try:
        rows = 4000
        data = sample(rows, seed=32)
        rng = np.random.default_rng(32)
        regions = rng.choice(np.array(["eu", "us", "apac", "latam", 7], dtype=object), size=rows)
        has_region = rng.random(rows) >= 0.25  # a quarter of the records carry no region at all
        attributes = [
            {"region": r} if has else {} for r, has in zip(regions.tolist(), has_region, strict=True)
        ]
        send(collector, batch(data, live_times(rows, seed=32), attributes=attributes))
        segments = by_segment(windows_closed(collector, 1))

        named = [str(r) for r, has in zip(regions.tolist(), has_region, strict=True) if has]
        kept = list(dict.fromkeys(named))[:2]  # the first two values seen; the rest are _other
        cities = list(dict.fromkeys(data["city"]))[:2]  # city is no attribute: the feature is read
        assert set(segments) == {
            *(("region", r) for r in kept), ("region", "_other"), ("region", "_missing"),
            *(("city", c) for c in cities), ("city", "_other"),
        }  # fmt: skip

        def records(name: str, value: str) -> int:
            return segments[name, value]["window"]["report"]["records"]

        assert records("region", "_missing") == int((~has_region).sum())
        assert records("region", "_other") == sum(r not in kept for r in named)
        assert all(records("region", r) == named.count(r) for r in kept)
        assert records("city", "_other") == sum(c not in cities for c in data["city"])
        # The integer attribute 7 is the category "7", like the performance processor's segment.
        assert "7" in kept or records("region", "_other") >= named.count("7")
        # Series per attribute: at most max_segment_values + _other + _missing values.
        values = {
            s.labels["segment_value"]
            for s in samples_of(collector, "modeltel_feature_drift", segment="region")
        }
        assert values == {*kept, "_other", "_missing"}
    finally:
        collector.process.stop()


def test_restart_keeps_segmented_windows_and_admitted_values(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    write_profile(profiles)
    configure = with_drift(
        profiles_dir=str(profiles), state_dir=str(tmp_path / "state"), long_window="1h",
        segment_by=["region"], max_segment_values=2,
    )  # fmt: skip
    collector = launch_collector(tmp_path, configure=configure)
    data, attributes = regional_stream(1500, seed=33, shifted=None)
    send(collector, batch(data, live_times(1500, seed=33), attributes=attributes))
    before = by_segment(windows_closed(collector, 1))
    assert collector.process.stop() == 0
    saved = orjson.loads(checkpoint_of(tmp_path).read_bytes())["streams"][0]["segments"]
    assert len(saved["streams"]) == 3 and len(saved["caps"]["region"]) == 2

    restarted = launch_collector(tmp_path, configure=configure)
    try:
        restored = by_segment(status(restarted, "churn")["versions"][0])
        assert set(restored) == set(before)
        for key, segment in restored.items():
            assert segment["windows"] == 1
            assert segment["long_view"]["report"]["records"] == before[key]["window"]["report"]["records"]
        data, attributes = regional_stream(1500, seed=34, shifted=None)
        send(restarted, batch(data, live_times(1500, seed=34), attributes=attributes))
        after = by_segment(windows_closed(restarted, 2))
        assert set(after) == set(before)  # the admitted values survived: apac is still _other
        assert sum(s["long_view"]["report"]["records"] for s in after.values()) == 3000
        assert all(s["windows"] == 2 for s in after.values())
    finally:
        restarted.process.stop()


def test_segment_false_alarm_rate_and_power_on_seeded_windows(tmp_path: Path) -> None:
    """Per segment and column test, the raw per-window verdict: on null windows the false-alarm
    rate stays at the engine's alpha (0.01) or below; a 0.5 sd shift of x0 in one segment of
    1000 rows is found in (nearly) every window."""
    drift = processor(tmp_path, segment_by=["region"], persistence_k=1, persistence_m=1)
    regions = ["eu", "us", "apac", "latam"]
    false_alarms = tests = found = 0
    windows = 8
    for second in range(windows):
        data = sample(4000, seed=100 + second)
        region = np.repeat(regions, 1000)
        x0 = np.asarray(data["x0"])
        data["x0"] = np.where(region == "eu", x0 + 0.5, x0).round(5).tolist()
        feed_segmented(drift, data, [{"region": r} for r in region], second)
        close_all(drift, second + 1)
        for (_, value), stream in drift.segments["churn", "3"].streams.items():
            report = stream.last_window.report
            inputs = [f for f in report.features if f.role == "feature" and f.tested]
            if value == "eu":
                found += report.feature("x0").drifted
                inputs = [f for f in inputs if f.name != "x0"]
            tests += len(inputs)
            false_alarms += sum(f.drifted for f in inputs)
    assert tests == windows * (4 * 7 - 1)
    assert false_alarms <= 6  # 216 null tests: 2.2 expected at alpha = 0.01; P(> 6) < 0.01
    assert found >= windows - 1


def feed_segmented(drift, data: dict, attributes: list[dict], second: int) -> None:
    """``feed`` with record attributes: rows stamped inside ``[T0 + second, T0 + second + 1)``."""
    drift.clock = lambda: T0 + (second + 1) * NS
    rows = len(data["x0"])
    times = T0 + second * NS + np.linspace(0, NS - 1, rows).astype(np.int64)
    for start in range(0, rows, 1000):
        part = {name: values[start : start + 1000] for name, values in data.items()}
        drift.observe(batch(part, times[start : start + 1000], attributes=attributes[start : start + 1000]))


def test_segment_configuration_errors_name_the_key() -> None:
    for bad in ({"segment_by": ["region", "region"]}, {"max_segment_values": 0},
                {"segment_by": [f"a{i}" for i in range(9)]}, {"segment_by": "region"}):  # fmt: skip
        with pytest.raises(ValidationError) as raised:
            DriftConfig(**bad)
        assert "segment" in str(raised.value)


def test_prometheus_scrapes_segment_and_model_series_of_one_family(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    write_profile(profiles)
    collector = launch_collector(
        tmp_path, configure=with_drift(profiles_dir=str(profiles), segment_by=["region"])
    )
    prometheus = launch_prometheus(tmp_path, collector.metrics_port)
    try:
        data, attributes = regional_stream(3000, seed=35, shifted="us")
        send(collector, batch(data, live_times(3000, seed=35), attributes=attributes))
        windows_closed(collector, 1)
        base = 'modeltel_feature_drift{feature="x0",window="2s",ml_model_name="churn"'
        # the segments' and the model's windows are published a few ms apart: a scrape can fall between
        segments, model = wait_until(
            lambda: (
                len(found := prometheus.query(base + ',segment="region"}')) == 3
                and (whole := prometheus.query(base + ',segment=""}'))
                and (found, whole)
            ),
            what="the three regions' series and the model's own in Prometheus",
        )
        assert {s["metric"]["segment_value"]: s["value"][1] for s in segments}["us"] == "1"
        [whole] = model  # the model's own, exactly one
        assert "segment" not in whole["metric"]
    finally:
        prometheus.process.stop()
        collector.process.stop()
