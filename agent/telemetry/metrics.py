"""The agent's metrics: cumulative OTLP sums and explicit-bucket histograms, kept by hand.

The SDK's ``Histogram.record`` costs ~25 µs here (attribute cleaning and hashing, measurement
objects, exemplar filtering, view matching); a request records three. These instruments take
their attributes as a tuple of pairs the caller already holds and append the measurement to
a deque; the export thread folds them into the totals (bucket search, sums, the latest
sampled exemplar per bucket, which is what the SDK's default reservoir for explicit-bucket
histograms keeps too), so the request path takes no lock. The export thread turns them into the
OTLP messages the SDK would send (cumulative temporality), named by the semantic conventions.
"""

import collections
import logging
import threading
import time
from bisect import bisect_left
from collections import deque
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

_log = logging.getLogger("modeltel.agent")
Attributes = tuple[tuple[str, Any], ...]
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


class _Instrument:
    def __init__(self, name: str, unit: str, description: str) -> None:
        self.name, self.unit, self.description = name, unit, description
        self._lock = threading.Lock()
        self._start_ns = time.time_ns()


# Measurements wait in a deque (an append is atomic under the GIL: no lock on the request
# path) until the export thread folds them into the totals, at every wake-up (about once a
# second) and before each export. A producer that finds this many waiting folds them itself,
# so memory stays bounded even when the export thread is stuck retrying.
FOLD_AT = 4096
YIELD_EVERY = 256


class _Recorded(_Instrument):
    def __init__(self, name: str, unit: str, description: str) -> None:
        super().__init__(name, unit, description)
        self._pending: deque[tuple] = deque()

    def _drained(self) -> list[tuple]:
        """What producers appended so far (caller holds the lock)."""
        pending, popleft = self._pending, self._pending.popleft
        taken = []
        try:
            for _ in range(len(pending)):
                taken.append(popleft())
        except IndexError:  # cannot happen with one consumer at a time; harmless if it did
            pass
        return taken


class Histogram(_Recorded):
    """Buckets are ``(-inf, b0], (b0, b1], ..., (bn, +inf)``, as OTLP defines them."""

    def __init__(self, name: str, unit: str, description: str, boundaries: Sequence[float]) -> None:
        super().__init__(name, unit, description)
        self.boundaries = tuple(boundaries)
        # attributes → [bucket counts, count, sum, min, max, {bucket: exemplar}]
        self._points: dict[Attributes, list[Any]] = {}

    def record(self, value: float, attributes: Attributes, trace_id: int = 0, span_id: int = 0) -> None:
        pending = self._pending
        pending.append((value, attributes, trace_id, span_id, time.time_ns() if trace_id else 0))
        if len(pending) >= FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Add the waiting measurements to the totals (export thread, or a producer at FOLD_AT)."""
        boundaries = self.boundaries
        with self._lock:
            points = self._points
            for index, (value, attributes, trace_id, span_id, time_ns) in enumerate(self._drained()):
                if index % YIELD_EVERY == YIELD_EVERY - 1:
                    time.sleep(0)  # let the request path run: this thread shares its GIL
                bucket = bisect_left(boundaries, value)
                point = points.get(attributes)
                if point is None:
                    point = points[attributes] = [[0] * (len(boundaries) + 1), 0, 0.0, value, value, {}]
                point[0][bucket] += 1
                point[1] += 1
                point[2] += value
                if value < point[3]:
                    point[3] = value
                if value > point[4]:
                    point[4] = value
                if trace_id:
                    point[5][bucket] = (value, time_ns, trace_id, span_id)

    def to_otlp(self, now_ns: int) -> Metric | None:
        self.fold()
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


Counts = Callable[[Any], Iterable[tuple[Attributes, float]]]


class Counter(_Recorded):
    def __init__(self, name: str, unit: str, description: str) -> None:
        super().__init__(name, unit, description)
        self._values: dict[Attributes, float] = {}
        self._counts: Counts = lambda item: ()

    def add(self, amount: float, attributes: Attributes) -> None:
        pending = self._pending
        pending.append((False, attributes, amount))
        if len(pending) >= FOLD_AT:
            self.fold()

    def add_counted(self, counts: Counts, item: Any) -> None:
        """Add what ``counts(item)`` returns, worked out when folded (off the request path):
        the predictions of a call by class, where labelling the classes is the costly part.
        One ``counts`` per counter. The waiting entry holds only ``item`` and constants, so
        an ``item`` of strings, numbers and tuples is soon untracked by the garbage collector."""
        self._counts = counts
        pending = self._pending
        pending.append((True, item, 0))
        if len(pending) >= FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Equal entries are tallied first, in C (``collections.Counter``): most are the same
        one-row prediction of the same model and class, so ``counts`` runs once per distinct
        entry, not once per call. A batch's list of predictions is unhashable: a fold that
        holds one goes entry by entry."""
        with self._lock:
            taken = self._drained()
            try:
                entries: Iterable[tuple[tuple, int]] = collections.Counter(taken).items()
            except TypeError:
                entries = ((entry, 1) for entry in taken)
            values = self._values
            for index, ((counted, item, amount), times) in enumerate(entries):
                if index % YIELD_EVERY == YIELD_EVERY - 1:
                    time.sleep(0)  # let the request path run: this thread shares its GIL
                if not counted:
                    values[item] = values.get(item, 0) + amount * times
                    continue
                try:
                    for attributes, count in self._counts(item):
                        values[attributes] = values.get(attributes, 0) + count * times
                except Exception:
                    _log.exception("modeltel could not count a measurement of %s", self.name)

    def to_otlp(self, now_ns: int) -> Metric | None:
        self.fold()
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
