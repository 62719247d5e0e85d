"""The drift processor component driven directly with real OTLP batches: re-weighting by
sampling rate, k-of-m persistence, the long view's horizon, config validation. (Windows,
restarts, the status API and Prometheus are tested in a running collector.)"""

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from modeltel.collector.component import Host
from modeltel.collector.config import DEFAULT_CONFIG_YAML, ConfigError, build_config
from modeltel.collector.factories import builtin_factories
from modeltel.collector.processors.drift import DriftConfig, DriftProcessor
from modeltel.collector.processors.drift.config import format_duration, parse_duration
from modeltel.collector.signals import Signal
from tests.collector.processors.drift_streams import batch, sample, write_profile

NS = 1_000_000_000
T0 = 1_700_000_000 * NS  # a window boundary for 1 s windows


def processor(tmp_path: Path, **settings: object) -> DriftProcessor:
    profiles = tmp_path / "profiles"
    if not profiles.exists():
        write_profile(profiles)
    config = DriftConfig(window="1s", long_window="3s", allowed_lateness=0, profiles_dir=profiles, **settings)
    drift = DriftProcessor("drift", config, next_consumer=None)  # type: ignore[arg-type]
    asyncio.run(drift.start(Host()))
    return drift


def feed(drift: DriftProcessor, data: dict, second: int, tag: int = 1, rate: float | None = None) -> None:
    """Rows of ``data`` stamped inside the window ``[T0 + second, T0 + second + 1)``, 1000 per batch."""
    drift.clock = lambda: T0 + (second + 1) * NS  # live traffic: sent as its window ends
    rows = len(data["x0"])
    times = T0 + second * NS + np.linspace(0, NS - 1, rows).astype(np.int64)
    for start in range(0, rows, 1000):
        part = {name: values[start : start + 1000] for name, values in data.items()}
        drift.observe(batch(part, times[start : start + 1000], tag=tag, sample_rate=rate))


def close_all(drift: DriftProcessor, second: int) -> None:
    """Half a second after ``T0 + second`` on the wall clock, with no new record: the timer
    closes every window that ended by ``T0 + second`` (the watermark moves with the clock)."""
    drift.clock = lambda: T0 + second * NS + NS // 2
    drift.tick()


def test_sampled_stream_with_weights_reaches_the_full_streams_verdicts(tmp_path: Path) -> None:
    full, sampled = processor(tmp_path / "a"), processor(tmp_path / "b")
    rng = np.random.default_rng(12)
    drifted = sample(20_000, seed=12, drifted=True)
    kept = np.flatnonzero(rng.random(20_000) < 0.1)
    subset = {name: [values[i] for i in kept] for name, values in drifted.items()}
    feed(full, drifted, second=0)
    feed(sampled, subset, second=0, rate=0.1)
    for drift in (full, sampled):
        close_all(drift, second=5)
    full_report = full.streams[("churn", "3")].last_window.report
    sampled_report = sampled.streams[("churn", "3")].last_window.report
    assert sampled_report.records == kept.size
    assert sampled_report.rows == pytest.approx(10 * kept.size)  # weighted back to the full stream
    assert sampled_report.rows == pytest.approx(full_report.rows, rel=0.05)
    assert set(sampled_report.drifted_features) == set(full_report.drifted_features)
    assert {"x0", "city"} <= set(full_report.drifted_features)
    x0 = sampled_report.feature("x0")
    assert x0.n_eff == pytest.approx(kept.size)  # weights never inflate the sample size


def test_feature_alarm_needs_k_of_m_windows_and_long_view_keeps_its_horizon(tmp_path: Path) -> None:
    drift = processor(tmp_path, persistence_k=2, persistence_m=3)
    stream_key = ("churn", "3")
    feed(drift, sample(3000, seed=20, drifted=True), second=0, tag=2)
    close_all(drift, second=1)
    stream = drift.streams[stream_key]
    assert stream.last_window.report.feature("x0").drifted  # this window drifted...
    assert not stream.last_window.alarms["x0"]  # ...but one of three is no alarm yet
    feed(drift, sample(3000, seed=21, drifted=True), second=1, tag=2)
    close_all(drift, second=2)
    assert stream.last_window.alarms["x0"] and not stream.last_window.alarms["x3"]
    feed(drift, sample(3000, seed=22), second=2)
    feed(drift, sample(3000, seed=23), second=3)
    close_all(drift, second=4)
    # The 3 s long view holds the windows starting at 1, 2, 3: the first drifted one left it.
    assert stream.last_long.report.records == 9000
    assert stream.windows_closed == 4


def test_durations_and_config_errors_name_the_key() -> None:
    assert parse_duration("5m") == 300 and parse_duration("500ms") == 0.5 and parse_duration(2) == 2.0
    assert format_duration(300) == "5m" and format_duration(3600) == "1h" and format_duration(0.5) == "500ms"
    document = yaml.safe_load(DEFAULT_CONFIG_YAML)
    assert "drift" in document["service"]["pipelines"]["logs"]["processors"]  # on by default: bootstraps
    build_config(document, builtin_factories())
    for bad, message in [
        ({"window": "five minutes"}, "processors.drift"),
        ({"window": "10m", "long_window": "5m"}, "long_window must be at least window"),
        ({"settings": {"alpah": 0.01}}, "alpah"),
        ({"persistence_k": 3, "persistence_m": 2}, "persistence_k"),
    ]:
        document["processors"]["drift"] = bad
        with pytest.raises(ConfigError, match=message):
            build_config(document, builtin_factories())


class Passed:
    """The next consumer: keeps the batches the processor passed on."""

    def __init__(self) -> None:
        self.batches: list = []

    async def consume(self, signal: Signal, batch: object) -> None:
        self.batches.append(batch)


def test_windows_evaluated_off_the_event_loop_reach_the_inline_verdicts(tmp_path: Path) -> None:
    """Through ``consume`` (the collector's path) closed windows are evaluated in the
    evaluation thread, in order: the same reports, k-of-m alarms and metrics as inline."""
    seeds = [(30, False), (31, True), (32, True), (33, False), (34, True), (35, False)]
    inline = processor(tmp_path / "inline")
    for second, (seed, drifted) in enumerate(seeds):
        feed(inline, sample(2000, seed=seed, drifted=drifted), second=second, tag=3)
        close_all(inline, second=second + 1)
    expected = inline.streams[("churn", "3")]

    profiles = tmp_path / "background" / "profiles"
    write_profile(profiles)
    config = DriftConfig(window="1s", long_window="3s", allowed_lateness=0, profiles_dir=profiles)
    passed = Passed()
    background = DriftProcessor("drift", config, next_consumer=passed)
    threads: set[str] = set()

    async def run() -> None:
        await background.start(Host())
        for second, (seed, drifted) in enumerate(seeds):
            data = sample(2000, seed=seed, drifted=drifted)
            times = T0 + second * NS + np.linspace(0, NS - 1, 2000).astype(np.int64)
            background.clock = lambda second=second: T0 + (second + 1) * NS
            for start in range(0, 2000, 1000):
                part = {name: values[start : start + 1000] for name, values in data.items()}
                await background.consume(Signal.LOGS, batch(part, times[start : start + 1000], tag=3))
            background.clock = lambda second=second: T0 + (second + 1) * NS + NS // 2
            background.tick(background=True)
            threads.update(t.name for t in threading.enumerate())
        await background.shutdown()  # waits for the evaluations in flight

    asyncio.run(run())
    stream = background.streams[("churn", "3")]
    assert any(name.startswith("modeltel-drift-evaluation") for name in threads)
    assert len(passed.batches) == 2 * len(seeds)  # every batch passed on, none waited for evaluation
    assert stream.windows_closed == expected.windows_closed == len(seeds)
    assert stream.last_window.alarms == expected.last_window.alarms
    assert stream.last_window.report.to_dict() == expected.last_window.report.to_dict()
    assert stream.last_long.report.to_dict() == expected.last_long.report.to_dict()
    assert {n: r.state() for n, r in stream.rules.items()} == {
        n: r.state() for n, r in expected.rules.items()
    }


def test_quality_verdicts_and_view_lengths_are_series(tmp_path: Path) -> None:
    host = Host()
    config = DriftConfig(window="1s", long_window="3s", allowed_lateness=0, profiles_dir=tmp_path / "p")
    write_profile(tmp_path / "p")
    drift = DriftProcessor("drift", config, next_consumer=None)  # type: ignore[arg-type]
    asyncio.run(drift.start(host))
    value = host.registry.get_sample_value
    assert value("modeltel_drift_view_seconds", {"view": "window", "window": "1s"}) == 1.0
    assert value("modeltel_drift_view_seconds", {"view": "long_view", "window": "3s"}) == 3.0
    data = sample(3000, seed=30)
    data["x1"] = ["oops" if i % 10 == 0 else v for i, v in enumerate(data["x1"])]  # 10 % type errors
    data["x2"] = [0.25] * 3000  # one value all window long
    feed(drift, data, second=0)
    close_all(drift, second=1)
    for view in ("1s", "3s"):
        labels = {"ml_model_name": "churn", "ml_model_version": "3", "window": view}
        assert (
            value("modeltel_feature_quality_issue", {**labels, "feature": "x1", "issue": "type_errors"}) == 1
        )
        assert value("modeltel_feature_quality_issue", {**labels, "feature": "x2", "issue": "constant"}) == 1
        for issue in ("missing_ratio", "out_of_range", "absent", "constant"):
            assert value("modeltel_feature_quality_issue", {**labels, "feature": "x3", "issue": issue}) == 0
