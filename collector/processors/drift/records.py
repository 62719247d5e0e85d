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
    weight_of_rate: dict[float, float] = {}  # the few distinct rates of a batch, checked once each
    now = time.time_ns()
    for resource_logs in batch.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                event_name = record.event_name
                model = version = ""
                rate = None
                for attribute in record.attributes:  # one pass; a handful of attributes
                    key = attribute.key
                    if key == ATTR_MODEL_NAME:
                        model = attribute.value.string_value
                    elif key == ATTR_MODEL_VERSION:
                        version = attribute.value.string_value
                    elif key == ATTR_SAMPLE_RATE:
                        rate = attribute.value
                    elif key == ATTR_EVENT_NAME and not event_name:
                        event_name = attribute.value.string_value
                if event_name != PREDICTION_EVENT:
                    continue
                if not model:
                    invalid["model_name_missing"] += 1
                    continue
                payload, problem = decode_prediction_body(record)
                if payload is None:
                    invalid[problem or "features_missing"] += 1
                    continue
                weight = 1.0
                if rate is not None:
                    value = _attribute_value(rate)
                    checked = weight_of_rate.get(value) if type(value) is float else None
                    if checked is None:
                        checked = sample_weight(value)
                        if checked is not None and type(value) is float:
                            weight_of_rate[value] = checked
                    if checked is None:
                        invalid["sample_rate_invalid"] += 1  # still counted, with weight 1
                    else:
                        weight = checked
                rows = groups.get((model, version))
                if rows is None:
                    rows = groups[(model, version)] = Rows()
                rows.times.append(record.time_unix_nano or record.observed_time_unix_nano or now)
                rows.weights.append(weight)
                rows.trace_ids.append(record.trace_id)
                rows.features.append(payload["features"])
                rows.predictions.append(payload.get("prediction"))
                rows.probabilities.append(payload.get("probabilities"))
    return DecodedBatch(groups, invalid)
