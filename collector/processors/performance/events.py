"""From an OTLP logs batch to the predictions and labels the join store takes.

One pass over the records reads, per ``modeltel.prediction``: model, version, id, time,
sample rate, the configured segment attributes, and from the body only ``prediction`` and
``probabilities`` (msgspec skips ``features`` unvalidated-for-content unless a segment needs a
feature); per ``modeltel.label``: id, time and the body's ``label`` (docs/semconv.md). Records
that cannot be used are counted by reason and never raised; the batch itself is untouched.
"""

import math
import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from typing import Any

import msgspec
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from modeltel.collector.processors.drift.records import sample_weight
from modeltel.collector.processors.performance.label_values import Scalar, prediction_id_bytes, scalar_value
from modeltel.collector.segment_values import any_value, record_segments
from modeltel.semconv import (
    ATTR_EVENT_NAME,
    ATTR_MODEL_NAME,
    ATTR_MODEL_VERSION,
    ATTR_PREDICTION_ID,
    ATTR_SAMPLE_RATE,
    LABEL_EVENT,
    PREDICTION_EVENT,
)

_NO_FEATURES = msgspec.Raw(b"")


class _PredictionBody(msgspec.Struct):
    prediction: Any = None
    probabilities: Any = None
    features: msgspec.Raw = _NO_FEATURES


class _LabelBody(msgspec.Struct):
    label: Any = None


_decode_prediction = msgspec.json.Decoder(_PredictionBody).decode
_decode_label = msgspec.json.Decoder(_LabelBody).decode


@dataclass
class PredictionEvents:
    """The usable predictions of one (model, version) in one batch, as parallel columns."""

    ids: list[bytes] = field(default_factory=list)
    times_ms: list[int] = field(default_factory=list)
    predictions: list[Scalar | None] = field(default_factory=list)
    probabilities: list[Any] = field(default_factory=list)
    weights: list[float | None] = field(default_factory=list)
    segments: list[dict[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class LabelEvents:
    items: list[tuple[bytes, Scalar, int]] = field(default_factory=list)  # (id, label, label time ms)


@dataclass
class DecodedEvents:
    predictions: dict[tuple[str, str], PredictionEvents]
    labels: LabelEvents
    invalid: Tally[str]


def decode_events(batch: ExportLogsServiceRequest, segment_by: tuple[str, ...] = ()) -> DecodedEvents:
    predictions: dict[tuple[str, str], PredictionEvents] = {}
    labels = LabelEvents()
    invalid: Tally[str] = Tally()
    wanted = frozenset(segment_by)
    weights: dict[float, float | None] = {}  # the few distinct rates of a batch, checked once each
    now_ms = time.time_ns() // 1_000_000
    for resource_logs in batch.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                event_name = record.event_name
                model = version = prediction_id = ""
                rate = None
                found: dict[str, Any] = {}
                for attribute in record.attributes:
                    key = attribute.key
                    if key == ATTR_PREDICTION_ID:
                        prediction_id = attribute.value.string_value
                    elif key == ATTR_MODEL_NAME:
                        model = attribute.value.string_value
                    elif key == ATTR_MODEL_VERSION:
                        version = attribute.value.string_value
                    elif key == ATTR_SAMPLE_RATE:
                        rate = any_value(attribute.value)
                    elif key == ATTR_EVENT_NAME and not event_name:
                        event_name = attribute.value.string_value
                    elif key in wanted:
                        found[key] = any_value(attribute.value)
                if event_name == PREDICTION_EVENT:
                    kind = "prediction"
                elif event_name == LABEL_EVENT:
                    kind = "label"
                else:
                    continue
                identifier = prediction_id_bytes(prediction_id)
                if identifier is None:
                    invalid[f"{kind}_id_invalid"] += 1
                    continue
                time_ns = record.time_unix_nano or record.observed_time_unix_nano
                time_ms = time_ns // 1_000_000 if time_ns else now_ms
                if record.body.WhichOneof("value") != "string_value":
                    invalid[f"{kind}_body_not_json_string"] += 1
                    continue
                text = record.body.string_value
                if kind == "label":
                    try:
                        label, problem = scalar_value(_decode_label(text).label)
                    except msgspec.DecodeError:
                        label, problem = None, "label_body_not_json"
                    if label is None:
                        invalid[problem or "label_missing"] += 1
                        continue
                    labels.items.append((identifier, label, time_ms))
                    continue
                if not model:
                    invalid["model_name_missing"] += 1
                    continue
                try:
                    body = _decode_prediction(text)
                except msgspec.DecodeError:
                    invalid["prediction_body_not_json"] += 1
                    continue
                predicted, problem = scalar_value(body.prediction)
                if problem == "label_not_scalar":
                    invalid["prediction_not_scalar"] += 1
                    predicted = None
                if rate is None:
                    weight = None
                elif type(rate) is float and rate in weights:
                    weight = weights[rate]
                else:
                    checked = sample_weight(rate)
                    if checked is None:
                        invalid["sample_rate_invalid"] += 1  # kept, with weight 1
                    weight = None if checked in (None, 1.0) else checked
                    if type(rate) is float and math.isfinite(rate):
                        weights[rate] = weight
                events = predictions.get((model, version))
                if events is None:
                    events = predictions[(model, version)] = PredictionEvents()
                events.ids.append(identifier)
                events.times_ms.append(time_ms)
                events.predictions.append(predicted)
                events.probabilities.append(body.probabilities)
                events.weights.append(weight)
                if segment_by:
                    events.segments.append(record_segments(segment_by, found, body.features))
    return DecodedEvents(predictions, labels, invalid)
