"""From an OTLP logs batch to prediction rows grouped by (model, version).

One pass over the batch's records reads what the drift processor needs of each
``modeltel.prediction`` record: model and version, event time, weight (1/sample rate),
trace id and the decoded body. Everything after this (columns, windows) works per group and
per batch, never per record. Bad records are counted by reason, never raised.
"""

import math
import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from modeltel.collector.processors.predictions import decode_prediction_body
from modeltel.semconv import (
    ATTR_EVENT_NAME,
    ATTR_MODEL_NAME,
    ATTR_MODEL_VERSION,
    ATTR_SAMPLE_RATE,
    PREDICTION_EVENT,
)

_WANTED = frozenset({ATTR_MODEL_NAME, ATTR_MODEL_VERSION, ATTR_EVENT_NAME, ATTR_SAMPLE_RATE})
_ZERO_TRACE = bytes(16)


@dataclass
class Rows:
    """Prediction records of one (model, version) from one batch, in arrival order."""

    times: list[int] = field(default_factory=list)  # event time, ns
    weights: list[float] = field(default_factory=list)
    trace_ids: list[bytes] = field(default_factory=list)
    features: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    probabilities: list[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times)

    def extend(self, other: "Rows", positions: list[int] | None = None) -> None:
        """Append ``other``'s rows, all of them or those at ``positions``."""
        for name in ("times", "weights", "trace_ids", "features", "predictions", "probabilities"):
            values = getattr(other, name)
            getattr(self, name).extend(values if positions is None else [values[i] for i in positions])


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


def _attribute_value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return None if kind is None else getattr(any_value, kind)


def decode_batch(batch: ExportLogsServiceRequest) -> DecodedBatch:
    """Prediction rows per (model, version); other events are ignored, bad records counted."""
    groups: dict[tuple[str, str], Rows] = {}
    invalid: Tally[str] = Tally()
    now = time.time_ns()
    for resource_logs in batch.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attributes = {a.key: a.value for a in record.attributes if a.key in _WANTED}
                event_name = record.event_name
                if not event_name and ATTR_EVENT_NAME in attributes:
                    event_name = attributes[ATTR_EVENT_NAME].string_value
                if event_name != PREDICTION_EVENT:
                    continue
                model = attributes[ATTR_MODEL_NAME].string_value if ATTR_MODEL_NAME in attributes else ""
                if not model:
                    invalid["model_name_missing"] += 1
                    continue
                payload, problem = decode_prediction_body(record)
                if payload is None:
                    invalid[problem or "features_missing"] += 1
                    continue
                features = payload["features"]
                weight = 1.0
                if ATTR_SAMPLE_RATE in attributes:
                    checked = sample_weight(_attribute_value(attributes[ATTR_SAMPLE_RATE]))
                    if checked is None:
                        invalid["sample_rate_invalid"] += 1  # still counted, with weight 1
                    else:
                        weight = checked
                version = (
                    attributes[ATTR_MODEL_VERSION].string_value if ATTR_MODEL_VERSION in attributes else ""
                )
                rows = groups.get((model, version))
                if rows is None:
                    rows = groups[(model, version)] = Rows()
                rows.times.append(record.time_unix_nano or record.observed_time_unix_nano or now)
                rows.weights.append(weight)
                rows.trace_ids.append(record.trace_id)
                rows.features.append(features)
                rows.predictions.append(payload.get("prediction"))
                rows.probabilities.append(payload.get("probabilities"))
    return DecodedBatch(groups, invalid)


def has_trace(trace_id: bytes) -> bool:
    return len(trace_id) == 16 and trace_id != _ZERO_TRACE
