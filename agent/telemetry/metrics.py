"""The agent's metrics: cumulative OTLP sums and explicit-bucket histograms, kept by hand.

The SDK's ``Histogram.record`` costs ~25 µs here (attribute cleaning and hashing, measurement
objects, exemplar filtering, view matching); a request records three. These instruments take
their attributes as a tuple of pairs the caller already holds, update a few numbers under a
lock, and keep the latest sampled exemplar per bucket, which is what the SDK's default
reservoir for explicit-bucket histograms keeps too. The export thread turns them into the
OTLP messages the SDK would send (cumulative temporality), named by the semantic conventions.
"""

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Exemplar,
    Gauge,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    Sum,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Histogram as HistogramData,
)

from modeltel.agent.telemetry.encoding import key_values

Attributes = tuple[tuple[str, Any], ...]
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


class _Instrument:
    def __init__(self, name: str, unit: str, description: str) -> None:
        self.name, self.unit, self.description = name, unit, description
        self._lock = threading.Lock()
        self._start_ns = time.time_ns()


class Histogram(_Instrument):
    """Buckets are ``(-inf, b0], (b0, b1], ..., (bn, +inf)``, as OTLP defines them."""

    def __init__(self, name: str, unit: str, description: str, boundaries: Sequence[float]) -> None:
        super().__init__(name, unit, description)
        self.boundaries = tuple(boundaries)
        # attributes → [bucket counts, count, sum, min, max, {bucket: exemplar}]
        self._points: dict[Attributes, list[Any]] = {}

    def record(self, value: float, attributes: Attributes, trace_id: int = 0, span_id: int = 0) -> None:
        bucket = bisect_left(self.boundaries, value)
        with self._lock:
            point = self._points.get(attributes)
            if point is None:
                point = self._points[attributes] = [
                    [0] * (len(self.boundaries) + 1),
                    0,
                    0.0,
                    value,
                    value,
                    {},
                ]
            point[0][bucket] += 1
            point[1] += 1
            point[2] += value
            if value < point[3]:
                point[3] = value
            if value > point[4]:
                point[4] = value
            if trace_id:
                point[5][bucket] = (value, time.time_ns(), trace_id, span_id)

    def to_otlp(self, now_ns: int) -> Metric | None:
        with self._lock:
            points = [
                (key, [list(p[0]), p[1], p[2], p[3], p[4], dict(p[5])]) for key, p in self._points.items()
            ]
        if not points:
            return None
        data = HistogramData(aggregation_temporality=CUMULATIVE)
        for attributes, (counts, count, total, low, high, exemplars) in points:
            data.data_points.append(
                HistogramDataPoint(
                    attributes=key_values(dict(attributes)), start_time_unix_nano=self._start_ns,
                    time_unix_nano=now_ns, count=count, sum=total, bucket_counts=counts,
                    explicit_bounds=self.boundaries, min=low, max=high,
                    exemplars=[_exemplar(*exemplar) for exemplar in exemplars.values()],
                )
            )  # fmt: skip
        return Metric(name=self.name, unit=self.unit, description=self.description, histogram=data)


class Counter(_Instrument):
    def __init__(self, name: str, unit: str, description: str) -> None:
        super().__init__(name, unit, description)
        self._values: dict[Attributes, float] = {}

    def add(self, amount: float, attributes: Attributes) -> None:
        with self._lock:
            self._values[attributes] = self._values.get(attributes, 0) + amount

    def to_otlp(self, now_ns: int) -> Metric | None:
        with self._lock:
            values = list(self._values.items())
        return _sum(self, values, now_ns, self._start_ns)


class _Observed(_Instrument):
    """Values read from ``observe`` at export time, not recorded on the request path."""

    def __init__(
        self,
        name: str,
        unit: str,
        description: str,
        observe: Callable[[], Iterable[tuple[Attributes, float]]],
    ) -> None:
        super().__init__(name, unit, description)
        self._observe = observe


class ObservableCounter(_Observed):
    """A cumulative count."""

    def to_otlp(self, now_ns: int) -> Metric | None:
        return _sum(self, list(self._observe()), now_ns, self._start_ns)


class ObservableGauge(_Observed):
    def to_otlp(self, now_ns: int) -> Metric | None:
        points = [_number_point(attributes, value, now_ns) for attributes, value in self._observe()]
        return Metric(
            name=self.name, unit=self.unit, description=self.description, gauge=Gauge(data_points=points)
        )


def _exemplar(value: float, time_ns: int, trace_id: int, span_id: int) -> Exemplar:
    return Exemplar(
        as_double=value,
        time_unix_nano=time_ns,
        trace_id=trace_id.to_bytes(16, "big"),
        span_id=span_id.to_bytes(8, "big"),
    )


def _number_point(attributes: Attributes, value: float, now_ns: int, start_ns: int = 0) -> NumberDataPoint:
    point = NumberDataPoint(
        attributes=key_values(dict(attributes)), time_unix_nano=now_ns, start_time_unix_nano=start_ns
    )
    if isinstance(value, int):
        point.as_int = value
    else:
        point.as_double = value
    return point


def _sum(
    instrument: _Instrument, values: list[tuple[Attributes, float]], now_ns: int, start_ns: int
) -> Metric | None:
    if not values:
        return None
    data = Sum(aggregation_temporality=CUMULATIVE, is_monotonic=True)
    data.data_points.extend(
        _number_point(attributes, value, now_ns, start_ns) for attributes, value in values
    )
    return Metric(name=instrument.name, unit=instrument.unit, description=instrument.description, sum=data)
