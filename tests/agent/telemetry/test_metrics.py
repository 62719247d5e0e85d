"""Lock-free instruments: measurements from many threads fold into exactly the totals."""

import threading

import numpy as np

from modeltel.agent.telemetry import metrics
from modeltel.agent.telemetry.metrics import Counter, Histogram

BOUNDS = (0.001, 0.01, 0.1, 1.0)


def _in_threads(work, chunks: list) -> None:
    threads = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_histogram_from_threads_matches_numpy() -> None:
    values = np.random.default_rng(7).exponential(0.05, size=40_000)  # more than FOLD_AT per thread
    histogram = Histogram("h", "s", "", BOUNDS)
    attributes = (("route", "/predict"),)

    def record(chunk: np.ndarray) -> None:
        for value in chunk.tolist():
            histogram.record(value, attributes)

    _in_threads(record, np.array_split(values, 4))
    point = histogram.to_otlp(1).histogram.data_points[0]
    expected = np.bincount(np.searchsorted(BOUNDS, values, side="left"), minlength=len(BOUNDS) + 1)
    assert list(point.bucket_counts) == expected.tolist()
    assert point.count == len(values)
    assert abs(point.sum - values.sum()) < 1e-9
    assert (point.min, point.max) == (values.min(), values.max())


def test_histogram_keeps_the_latest_sampled_exemplar_per_bucket() -> None:
    histogram = Histogram("h", "s", "", BOUNDS)
    histogram.record(0.05, (), trace_id=1, span_id=11)
    histogram.record(0.06, (), trace_id=2, span_id=22)
    histogram.record(0.07, ())  # unsampled: no exemplar
    histogram.record(5.0, (), trace_id=3, span_id=33)
    exemplars = histogram.to_otlp(1).histogram.data_points[0].exemplars
    assert sorted((e.as_double, int.from_bytes(e.trace_id, "big")) for e in exemplars) == [
        (0.06, 2),
        (5.0, 3),
    ]


def test_counter_from_threads_is_exact_and_counted_items_fold_later() -> None:
    counter = Counter("c", "1", "")
    a = (("k", "a"),)
    calls = []

    def counts(attributes: tuple, labels: list[str], option: None) -> list:
        calls.append(labels)
        return [(((("k", label),)), 1) for label in labels]

    def add(chunk: range) -> None:
        for index in chunk:
            counter.add(1, a)
            counter.add_counted(counts, a, ["b"] if index % 2 else ["a", "b"])

    _in_threads(add, [range(start, 20_000, 4) for start in range(4)])
    values = {
        tuple(kv.value.string_value for kv in p.attributes): p.as_int
        for p in counter.to_otlp(1).sum.data_points
    }
    assert values == {("a",): 20_000 + 10_000, ("b",): 20_000}
    assert len(calls) == 20_000


def test_equal_entries_are_counted_once_each_and_a_batch_among_them_loses_nothing() -> None:
    calls = []

    def counts(model: str, predictions: object, option: None) -> list:
        calls.append(predictions)
        predictions = predictions if type(predictions) is list else [predictions]
        return [(((("model", model), ("class", str(p)))), 1) for p in predictions]

    rng = np.random.default_rng(3)
    classes = rng.choice(["a", "b", "c"], size=3000)  # with the adds, fewer than FOLD_AT: one fold
    for with_batch in (False, True):
        counter, calls[:] = Counter("c", "1", ""), []
        for index, label in enumerate(classes):
            counter.add_counted(counts, "m", str(label))
            if index % 3 == 0:
                counter.add(2, (("model", "m"),))
        if with_batch:
            counter.add_counted(counts, "m", ["a", "a", "c"])  # unhashable: entry by entry
        values = {
            tuple(kv.value.string_value for kv in p.attributes): p.as_int
            for p in counter.to_otlp(1).sum.data_points
        }
        extra = {"a": 2, "b": 0, "c": 1} if with_batch else {"a": 0, "b": 0, "c": 0}
        expected = {("m", c): int((classes == c).sum()) + extra[c] for c in "abc"}
        assert values == expected | {("m",): 2 * len(range(0, 3000, 3))}
        assert len(calls) == (3000 + 1 if with_batch else 3)  # tallied: once per distinct entry


def test_pending_measurements_stay_bounded_without_the_export_thread() -> None:
    histogram, counter = Histogram("h", "s", "", BOUNDS), Counter("c", "1", "")
    for _ in range(3 * metrics.FOLD_AT + 5):
        histogram.record(0.5, ())
        counter.add(2, ())
    assert histogram.waiting() < metrics.FOLD_AT and counter.waiting() < metrics.FOLD_AT
    assert histogram.to_otlp(1).histogram.data_points[0].count == 3 * metrics.FOLD_AT + 5
    assert counter.to_otlp(1).sum.data_points[0].as_int == 2 * (3 * metrics.FOLD_AT + 5)


def test_a_failing_count_is_logged_and_loses_nothing_else(caplog) -> None:
    counter = Counter("c", "1", "")
    counter.add(3, ())
    counter.add_counted(lambda attributes, item, option: 1 / 0, (), None)
    counter.add(4, ())
    assert counter.to_otlp(1).sum.data_points[0].as_int == 7
    assert "could not count" in caplog.text


def test_waiting_measurements_are_no_objects_the_garbage_collector_tracks() -> None:
    """A tracked object per waiting measurement would count towards the young generation's
    threshold until the fold (up to a second under load) and make the host's collections,
    full ones included, more frequent. Measured as the net tracked allocations while
    collection is off: at most a handful for the deque's own growth, not one per measurement."""
    import gc

    histogram, counter = Histogram("h", "s", "", BOUNDS), Counter("c", "1", "")
    attributes = (("ml.model.name", "iris"),)
    values = np.random.default_rng(8).exponential(0.05, size=1000).tolist()
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        for value in values:
            histogram.record(value, attributes, trace_id=5, span_id=6)
            histogram.record(value, attributes)
            counter.add(1, attributes)
            counter.add_counted(lambda a, item, option: [(a, 1)], attributes, "setosa", True)
        alive = gc.get_count()[0] - before
    finally:
        gc.enable()
    assert alive < 50, f"{alive} tracked objects alive for {4 * len(values)} waiting measurements"
    assert histogram.waiting() == 2000 and counter.waiting() == 2000
    assert histogram.to_otlp(1).histogram.data_points[0].count == 2000
    assert counter.to_otlp(1).sum.data_points[0].as_int == 2000


def test_histogram_groups_by_attributes_and_keeps_each_buckets_latest_sampled_exemplar() -> None:
    """Several attribute sets in one fold, one of them passed as two equal tuples that are
    different objects: each point matches a measurement-by-measurement reference."""
    rng = np.random.default_rng(21)
    route_a, route_b = (("route", "/a"),), (("route", "/b"),)
    route_a_copy = tuple([("route", "/" + "a")])  # equal to route_a, another object
    assert route_a_copy == route_a and route_a_copy is not route_a
    choices = [route_a, route_b, route_a_copy]
    histogram = Histogram("h", "s", "", BOUNDS)
    reference: dict = {}
    for index in range(3000):
        attributes = choices[int(rng.integers(3))]
        value = float(rng.exponential(0.05))
        sampled = bool(rng.random() < 0.3)
        trace_id, span_id = (index + 1, index + 7) if sampled else (0, 0)
        histogram.record(value, attributes, trace_id, span_id)
        point = reference.setdefault(attributes, {"values": [], "exemplars": {}})
        point["values"].append(value)
        if sampled:
            bucket = int(np.searchsorted(BOUNDS, value, side="left"))
            point["exemplars"][bucket] = (value, trace_id, span_id)
    data_points = histogram.to_otlp(1).histogram.data_points
    assert len(data_points) == 2
    for data_point in data_points:
        route = data_point.attributes[0].value.string_value
        expected = reference[(("route", route),)]
        values = np.array(expected["values"])
        counts = np.bincount(np.searchsorted(BOUNDS, values, side="left"), minlength=len(BOUNDS) + 1)
        assert list(data_point.bucket_counts) == counts.tolist()
        assert data_point.count == len(values) and abs(data_point.sum - values.sum()) < 1e-9
        assert (data_point.min, data_point.max) == (values.min(), values.max())
        exemplars = {
            int(np.searchsorted(BOUNDS, e.as_double, side="left")): (
                e.as_double, int.from_bytes(e.trace_id, "big"), int.from_bytes(e.span_id, "big")
            )
            for e in data_point.exemplars
        }  # fmt: skip
        assert exemplars == expected["exemplars"]
