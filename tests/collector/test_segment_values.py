"""Segment resolution shared by the drift and performance processors: the same records get the
same segment values whichever processor reads them (attribute first, else the feature)."""

import numpy as np
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from modeltel.collector import wire
from modeltel.collector.processors.drift.records import decode_batch
from modeltel.collector.processors.performance.events import decode_events
from modeltel.collector.segment_values import record_segments, segment_text
from tests.collector.otlp_batches import logs_request, prediction_record

SEGMENT_BY = ("region", "plan", "tier")
ATTRIBUTE_VALUES = [
    AnyValue(string_value="eu"), AnyValue(string_value="us"), AnyValue(int_value=7),
    AnyValue(double_value=2.0), AnyValue(double_value=2.5), AnyValue(bool_value=True), AnyValue(),
    AnyValue(bytes_value=b"\x00"), AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)])),
    AnyValue(double_value=float("nan")),
]  # fmt: skip
FEATURE_VALUES = ["gold", 3, 3.0, None, float("nan"), [1, 2], {"a": 1}, True]


def mixed_batch(rows: int, seed: int):
    """Records whose ``region`` is an attribute (of any type) or a feature or neither; ``plan``
    always a feature when present; ``tier`` an attribute that wins over a feature of that name."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(rows):
        features: dict = {"x0": float(rng.normal())}
        if rng.random() < 0.3:
            features["region"] = FEATURE_VALUES[rng.integers(len(FEATURE_VALUES))]
        if rng.random() < 0.7:
            features["plan"] = FEATURE_VALUES[rng.integers(len(FEATURE_VALUES))]
        features["tier"] = "feature-loses"
        record = prediction_record(features, 1)
        if rng.random() < 0.5:
            record.attributes.append(
                KeyValue(key="region", value=ATTRIBUTE_VALUES[rng.integers(len(ATTRIBUTE_VALUES))])
            )
        record.attributes.append(KeyValue(key="tier", value=AnyValue(string_value=f"t{i % 3}")))
        records.append(record)
    return logs_request(records)


def test_drift_and_performance_processors_resolve_the_same_segment_values() -> None:
    batch = mixed_batch(600, seed=41)
    token = wire.set_received(batch, batch.SerializeToString())
    try:
        drift_rows = decode_batch(batch, SEGMENT_BY).groups["churn", "3"]
    finally:
        wire.clear(token)
    performance_rows = decode_events(batch, SEGMENT_BY).predictions["churn", "3"].segments
    assert len(performance_rows) == len(drift_rows) == 600
    for name in SEGMENT_BY:
        assert drift_rows.segments[name] == [row[name] for row in performance_rows]
    assert set(drift_rows.segments["tier"]) == {"t0", "t1", "t2"}  # the attribute wins
    regions = set(drift_rows.segments["region"])
    assert {"eu", "us", "7", "2", "2.5", "True", "gold", "3", "_missing"} <= regions
    assert set(drift_rows.segments["plan"]) <= {"gold", "3", "True", "_missing"}


def test_values_that_are_no_scalar_or_missing_are_the_missing_segment() -> None:
    assert [segment_text(v) for v in (None, float("nan"), [1], {"a": 1}, 5.0, "x", False)] == [
        "_missing", "_missing", "_missing", "_missing", "5", "x", "False",
    ]  # fmt: skip
    assert record_segments(["a", "b"], {"a": "eu"}, b'{"b": 1, "a": "feature"}') == {"a": "eu", "b": "1"}
    assert record_segments(["b"], {}, b"not json") == {"b": "_missing"}
