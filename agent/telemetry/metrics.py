"""The agent's metrics: cumulative OTLP sums and explicit-bucket histograms, kept by hand.

The SDK's ``Histogram.record`` costs ~25 µs here (attribute cleaning and hashing, measurement
objects, exemplar filtering, view matching); a request records three. These instruments take
their attributes as a tuple of pairs the caller already holds and append the measurement's
fields to a deque; the export thread folds them into the totals (bucket search, sums, the latest
sampled exemplar per bucket, which is what the SDK's default reservoir for explicit-bucket
histograms keeps too), so the request path takes no lock. The export thread turns them into the
OTLP messages the SDK would send (cumulative temporality), named by the semantic conventions.
"""

import collections
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import repeat, starmap
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    import numpy as np

_log = logging.getLogger("modeltel.agent")
Attributes = tuple[tuple[str, Any], ...]
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


class _Instrument:
    def __init__(self, name: str, unit: str, description: str) -> None:
        self.name, self.unit, self.description = name, unit, description
        self._lock = threading.Lock()
        self._start_ns = time.time_ns()


# Measurements wait in a deque until the export thread folds them into the totals, at every
# wake-up (about once a second) and before each export. A producer that finds this many
# waiting folds them itself, so memory stays bounded even when the export thread is stuck.
FOLD_AT = 4096
YIELD_EVERY = 256


class _Recorded(_Instrument):
    """A measurement waits as its ``WIDTH`` fields, one after another in the deque, not as a
    tuple: ``deque.extend`` of a tuple is one C call (atomic under the GIL, so the request path
    takes no lock and the fields of two measurements never interleave), and the tuple is freed
    at once. A waiting tuple per measurement would be a garbage-collected object alive until the
    fold, counted towards the young generation's threshold, which sets how often the host's
    collections (full ones: tens of ms) run: four per request at 10% (bench/gc_pressure.py)."""

    WIDTH = 1

    def __init__(self, name: str, unit: str, description: str) -> None:
        super().__init__(name, unit, description)
        self._pending: deque[Any] = deque()
        self._fold_at = FOLD_AT * self.WIDTH

    def waiting(self) -> int:
        """Measurements recorded and not yet folded."""
        return len(self._pending) // self.WIDTH

    def _drained(self) -> list[Any]:
        """The fields producers recorded so far (caller holds the lock): a multiple of WIDTH,
        as each extend is atomic. Popped in C (``starmap``), not in a Python loop."""
        pending = self._pending
        return list(starmap(pending.popleft, repeat((), len(pending))))

    def _measurements(self, fields: list[Any]) -> Iterator[tuple]:
        """``fields`` a measurement at a time; ``zip`` reuses its tuple, so folding does not
        allocate one per measurement either."""
        columns = iter(fields)
        return zip(*[columns] * self.WIDTH, strict=True)


class Histogram(_Recorded):
    """Buckets are ``(-inf, b0], (b0, b1], ..., (bn, +inf)``, as OTLP defines them."""

    WIDTH = 5  # value, attributes, trace id, span id, time of a sampled exemplar

    def __init__(self, name: str, unit: str, description: str, boundaries: Sequence[float]) -> None:
        super().__init__(name, unit, description)
        self.boundaries = tuple(boundaries)
        self._bounds: np.ndarray | None = None  # the boundaries as an array, at the first fold
        # attributes → [bucket counts, count, sum, min, max, {bucket: exemplar}]
        self._points: dict[Attributes, list[Any]] = {}

    def record(self, value: float, attributes: Attributes, trace_id: int = 0, span_id: int = 0) -> None:
        pending = self._pending
        pending.extend((value, attributes, trace_id, span_id, time.time_ns() if trace_id else 0))
        if len(pending) >= self._fold_at:
            self.fold()

    def fold(self) -> None:
        """Add the waiting measurements to the totals (export thread, or a producer at FOLD_AT).

        In numpy, a batch at a time: the export thread holds the GIL while it folds, and a
        request that arrives meanwhile waits, so a fold in Python (0.5-1.2 µs a measurement, up
        to ~600 µs for a second's worth at 500 requests/s) was one of the longest stretches it
        met. Measurements are grouped by their attribute tuple's identity (callers pass one
        cached tuple for the same attributes, so there are a few), and identities of equal
        tuples are merged into one group."""
        # imported here, by the export thread, not on the request path: a web app that does
        # not use numpy itself (it is one of modeltel's dependencies) loads it on the first fold
        import numpy as np

        with self._lock:
            fields = self._drained()
            if not fields:
                return
            width = self.WIDTH
            values = np.array(fields[0::width], dtype=np.float64)
            if self._bounds is None:
                self._bounds = np.array(self.boundaries, dtype=np.float64)
            buckets = np.searchsorted(self._bounds, values, side="left")
            exemplar_times = np.array(fields[4::width], dtype=np.int64)  # 0 unless sampled
            attributes = fields[1::width]
            first = attributes[0]
            if attributes.count(first) == len(attributes):  # mostly: one route, one model
                self._add(first, values, buckets, exemplar_times, np.arange(len(values)), fields)
                return
            ids = np.fromiter(map(id, attributes), np.int64)
            _, first_rows, group = np.unique(ids, return_index=True, return_inverse=True)
            by_value: dict[Attributes, int] = {}  # equal tuples of other identities: one group
            same = [
                by_value.setdefault(attributes[row], index) for index, row in enumerate(first_rows.tolist())
            ]
            group = np.asarray(same)[group]
            for index in sorted(set(same)):
                rows = np.flatnonzero(group == index)
                self._add(
                    attributes[rows[0]], values[rows], buckets[rows], exemplar_times[rows], rows, fields
                )

    def _add(
        self,
        attributes: Attributes,
        values: "np.ndarray",
        buckets: "np.ndarray",
        exemplar_times: "np.ndarray",
        rows: "np.ndarray",
        fields: list[Any],
    ) -> None:
        """One group's measurements into its point; ``rows`` index them in ``fields``."""
        import numpy as np

        point = self._points.get(attributes)
        if point is None:
            point = self._points[attributes] = [
                np.zeros(len(self.boundaries) + 1, np.int64),
                0,
                0.0,
                math.inf,
                -math.inf,
                {},
            ]
        point[0] += np.bincount(buckets, minlength=len(point[0]))
        point[1] += len(values)
        point[2] += float(values.sum())
        point[3] = min(point[3], float(values.min()))
        point[4] = max(point[4], float(values.max()))
        sampled = np.flatnonzero(exemplar_times)
        if len(sampled):  # the latest sampled measurement of each bucket becomes its exemplar
            latest = sampled[::-1]
            kept_buckets, first_seen = np.unique(buckets[latest], return_index=True)
            exemplars = point[5]
            for bucket, at in zip(kept_buckets.tolist(), latest[first_seen].tolist(), strict=True):
                row = self.WIDTH * int(rows[at])
                exemplars[bucket] = (fields[row], fields[row + 4], fields[row + 2], fields[row + 3])

    def to_otlp(self, now_ns: int) -> Metric | None:
        self.fold()
        with self._lock:
            points = [
                (key, [p[0].tolist(), p[1], p[2], p[3], p[4], dict(p[5])]) for key, p in self._points.items()
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


Counts = Callable[[Attributes, Any, Any], Iterable[tuple[Attributes, float]]]


class Counter(_Recorded):
    WIDTH = 4  # counted later?, attributes, amount or item, option

    def __init__(self, name: str, unit: str, description: str) -> None:
        super().__init__(name, unit, description)
        self._values: dict[Attributes, float] = {}
        self._counts: Counts = lambda attributes, item, option: ()

    def add(self, amount: float, attributes: Attributes) -> None:
        pending = self._pending
        pending.extend((False, attributes, amount, None))
        if len(pending) >= self._fold_at:
            self.fold()

    def add_counted(self, counts: Counts, attributes: Attributes, item: Any, option: Any = None) -> None:
        """Add what ``counts(attributes, item, option)`` returns, worked out when folded (off
        the request path): the predictions of a call by class, where labelling the classes is
        the costly part. One ``counts`` per counter. The parts are passed apart, not as one
        tuple, so that waiting allocates nothing the garbage collector tracks (see _Recorded)."""
        self._counts = counts
        pending = self._pending
        pending.extend((True, attributes, item, option))
        if len(pending) >= self._fold_at:
            self.fold()

    def fold(self) -> None:
        """Equal entries are tallied first, in C (``collections.Counter``): most are the same
        one-row prediction of the same model and class, so ``counts`` runs once per distinct
        entry, not once per call. A batch's list of predictions is unhashable: a fold that
        holds one goes entry by entry."""
        with self._lock:
            taken = self._drained()
            try:
                entries: Iterable[tuple[tuple, int]] = collections.Counter(self._measurements(taken)).items()
            except TypeError:
                entries = ((entry, 1) for entry in self._measurements(taken))
            values = self._values
            for index, ((counted, attributes, item, option), times) in enumerate(entries):
                if index % YIELD_EVERY == YIELD_EVERY - 1:
                    time.sleep(0)  # let the request path run: this thread shares its GIL
                if not counted:
                    values[attributes] = values.get(attributes, 0) + item * times
                    continue
                try:
                    for counted_attributes, count in self._counts(attributes, item, option):
                        values[counted_attributes] = values.get(counted_attributes, 0) + count * times
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
