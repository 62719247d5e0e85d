"""From an OTLP logs batch to prediction rows grouped by (model, version).

The records come from :func:`modeltel.collector.prediction_records.prediction_records`, the
lean view the ``predictions`` processor already decoded for this batch (one decode shared by
both processors). Per record the drift processor keeps model and version (the group), event
time, weight (1/sample rate), trace id and the body's JSON text: bodies are decoded into
columns only when a window flushes (``columns.ColumnBuilder``), a few thousand at a time.
Bad records are counted by reason, never raised.
"""

import math
import time
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from modeltel.collector.prediction_records import prediction_records, string_value
from modeltel.collector.segment_values import batch_segments
from modeltel.semconv import ATTR_SAMPLE_RATE

_UNUSABLE = frozenset({"body_not_json_string", "body_not_json", "features_missing"})
"""Body problems that leave no features to count (``prediction_missing`` still has them)."""


@dataclass
class Rows:
    """Prediction records of one (model, version) from one batch, in arrival order."""

    times: list[int] = field(default_factory=list)  # event time, ns
    weights: list[float] = field(default_factory=list)
    trace_ids: list[bytes] = field(default_factory=list)
    texts: list[bytes] = field(default_factory=list)  # the JSON body of each record
    # per segment_by attribute, each record's raw value (before the cap); empty when unsegmented
    segments: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.times)

    def extend(self, other: "Rows", positions: list[int] | None = None) -> None:
        """Append ``other``'s rows, all of them or those at ``positions``."""
        for name in ("times", "weights", "trace_ids", "texts"):
            values = getattr(other, name)
            getattr(self, name).extend(values if positions is None else [values[i] for i in positions])

    def tail(self, start: int) -> "Rows":
        """The rows from position ``start`` on."""
        return Rows(
            self.times[start:], self.weights[start:], self.trace_ids[start:], self.texts[start:],
            {name: values[start:] for name, values in self.segments.items()},
        )  # fmt: skip


@dataclass
class DecodedBatch:
    groups: dict[tuple[str, str], Rows]
    invalid: Tally[str]


def sample_weight(value: Any) -> float | None:
    """1/rate for a valid sampling rate in (0, 1]; None when the rate breaks the contract."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    rate = float(value)
    if not (0.0 < rate <= 1.0) or math.isnan(rate):
        return None
    return 1.0 / rate


def _weight_of(serialized: bytes | None) -> float | None:
    """The weight a serialized sample-rate attribute gives (1.0 when absent, None when invalid)."""
    if serialized is None:
        return 1.0
    value = AnyValue.FromString(serialized)
    kind = value.WhichOneof("value")
    return sample_weight(None if kind is None else getattr(value, kind))


def decode_batch(batch: ExportLogsServiceRequest, segment_by: Sequence[str] = ()) -> DecodedBatch:
    """Prediction rows per (model, version); other events are ignored, bad records counted.
    With ``segment_by``, each row also carries its value of every segment attribute
    (``batch_segments``: the record attribute, else the feature, as the performance processor)."""
    records = prediction_records(batch)
    invalid: Tally[str] = Tally()
    n = len(records)
    if not n:
        return DecodedBatch({}, invalid)
    problems = records.problems()
    keys = list(zip(records.models, records.versions, strict=True))
    names = {key: (string_value(key[0]), string_value(key[1])) for key in set(keys)}
    usable = problems.count(None) + problems.count("prediction_missing")
    if len(names) == 1 and usable == n and names[keys[0]][0]:  # the usual batch: one model, all good
        positions = {names[keys[0]]: None}
    else:
        positions = _positions(keys, names, problems, invalid)
    rates = [a.get(ATTR_SAMPLE_RATE) for a in records.attributes]
    weight_of_rate = {rate: _weight_of(rate) for rate in set(rates)}  # each distinct value once
    now = time.time_ns()
    segments = batch_segments(segment_by, records.attributes, records.texts()) if segment_by else {}
    groups: dict[tuple[str, str], Rows] = {}
    for model_version, group in positions.items():
        picked = _pick(group)
        weights = list(map(weight_of_rate.__getitem__, picked(rates)))
        if None in weight_of_rate.values():
            invalid["sample_rate_invalid"] += weights.count(None)  # still counted, with weight 1
            weights = [1.0 if w is None else w for w in weights]
        times = picked(records.times)
        if 0 in times:
            times = [t or now for t in times]  # neither event nor observed time: arrival
        groups[model_version] = Rows(
            times, weights, picked(records.trace_ids), picked(records.texts()),
            {name: picked(values) for name, values in segments.items()},
        )  # fmt: skip
    return DecodedBatch(groups, invalid)


def _positions(
    keys: list[tuple[bytes | None, bytes | None]],
    names: dict[tuple[bytes | None, bytes | None], tuple[str, str]],
    problems: list[str | None],
    invalid: Tally[str],
) -> dict[tuple[str, str], list[int] | None]:
    """Positions of the usable records per (model, version); the others counted by reason."""
    positions: dict[tuple[str, str], list[int] | None] = {}
    for i, (key, problem) in enumerate(zip(keys, problems, strict=True)):
        model_version = names[key]
        if not model_version[0]:
            invalid["model_name_missing"] += 1
        elif problem in _UNUSABLE:
            invalid[problem] += 1
        else:
            positions.setdefault(model_version, []).append(i)  # type: ignore[union-attr]
    return positions


def _pick(positions: list[int] | None) -> Callable[[list[Any]], list[Any]]:
    """A function taking the values at ``positions`` (all of them when None) from a list."""
    if positions is None:
        return list
    return lambda values: [values[i] for i in positions]
