"""From an OTLP logs batch to the predictions and labels the join store takes.

The records come from the batch's shared lean decode
(:func:`modeltel.collector.prediction_records.prediction_records`, already done by the
``predictions`` and ``drift`` processors in the default pipeline), not from a second walk of the
protobuf batch. Per ``modeltel.prediction``: model, version, id, time, sample rate, the
configured segment attributes, and from the body only ``prediction`` and ``probabilities``
(msgspec skips ``features``; segment values are read as the drift processor reads them,
:func:`modeltel.collector.segment_values.batch_segments`); per ``modeltel.label``: id, time
and the body's ``label`` (docs/semconv.md). Ids, times and sample rates are read per batch
(one hex decode of all ids, one decode per distinct rate); only the body decode and the value
check are per record. Records that cannot be used are counted by reason and never raised; the
batch itself is untouched.
"""

import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

import msgspec
import numpy as np
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from modeltel.collector.prediction_records import LabelRecords, body_text, prediction_records, string_value
from modeltel.collector.processors.drift.records import sample_weight
from modeltel.collector.processors.performance.label_values import Scalar, prediction_id_bytes, scalar_value
from modeltel.collector.segment_values import any_value, batch_segments
from modeltel.semconv import ATTR_PREDICTION_ID, ATTR_SAMPLE_RATE


class _PredictionBody(msgspec.Struct):
    prediction: Any = None
    probabilities: Any = None


class _LabelBody(msgspec.Struct):
    label: Any = None


_decode_prediction = msgspec.json.Decoder(_PredictionBody).decode
_decode_label = msgspec.json.Decoder(_LabelBody).decode

_ID_HEAD = b"\x0a\x20"  # a serialized AnyValue holding a 32-character string_value
_ID_SIZE = len(_ID_HEAD) + 32


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


def _any_value(serialized: bytes | None) -> Any:
    return None if serialized is None else any_value(AnyValue.FromString(serialized))


def _one_id(serialized: bytes | None) -> bytes | None:
    return prediction_id_bytes(AnyValue.FromString(serialized).string_value) if serialized else None


def prediction_ids(serialized: list[bytes | None]) -> list[bytes | None]:
    """The 16-byte ids of serialized ``modeltel.prediction.id`` values (None: missing or invalid).

    The usual batch (every id 32 hex digits, the agent's form) is one ``bytes.fromhex`` of all
    ids together; anything else (UUIDs with dashes, bad ids) is read one by one."""
    count = len(serialized)
    if count and None not in serialized:
        joined = b"".join(serialized)  # type: ignore[arg-type]
        usual = len(joined) == count * _ID_SIZE
        if (
            usual
            and joined[0::_ID_SIZE] == _ID_HEAD[:1] * count
            and joined[1::_ID_SIZE] == _ID_HEAD[1:] * count
        ):
            digits = np.frombuffer(joined, dtype=np.uint8).reshape(count, _ID_SIZE)[:, len(_ID_HEAD) :]
            try:
                data = bytes.fromhex(digits.tobytes().decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                data = b""
            if len(data) == 16 * count:  # fromhex skips whitespace: a short result is a bad id
                return [data[start : start + 16] for start in range(0, len(data), 16)]
    return list(map(_one_id, serialized))


def _times_ms(times_ns: list[int], now_ms: int) -> list[int]:
    return [t // 1_000_000 if t else now_ms for t in times_ns]


def _weights(rates: list[bytes | None], invalid: Tally[str]) -> list[float | None]:
    """Per record 1/sample rate (None for 1); each distinct serialized rate is decoded once."""
    weight_of: dict[bytes | None, float | None] = {None: None}
    bad: set[bytes | None] = set()
    for rate in set(rates) - {None}:
        checked = sample_weight(_any_value(rate))
        if checked is None:
            bad.add(rate)  # kept, with weight 1
        weight_of[rate] = None if checked in (None, 1.0) else checked
    if bad:
        invalid["sample_rate_invalid"] += sum(rate in bad for rate in rates)
    return list(map(weight_of.__getitem__, rates))


def _usable(ids: list, texts: list, keys: list[tuple[str, str]], invalid: Tally[str]) -> list[bool]:
    """Which records can be read further; the others counted by their first problem."""
    usable = []
    for identifier, text, (model, _) in zip(ids, texts, keys, strict=True):
        if identifier is None:
            invalid["prediction_id_invalid"] += 1
        elif text is None:
            invalid["prediction_body_not_json_string"] += 1
        elif not model:
            invalid["model_name_missing"] += 1
        else:
            usable.append(True)
            continue
        usable.append(False)
    return usable


def _decode_bodies(decode, texts: list[bytes]) -> list[Any]:
    """Each text decoded (None where it is not JSON of the body's shape)."""
    try:
        return list(map(decode, texts))  # the usual batch: no exception, one C-level map
    except msgspec.DecodeError:
        pass
    bodies = []
    for text in texts:
        try:
            bodies.append(decode(text))
        except msgspec.DecodeError:
            bodies.append(None)
    return bodies


def _scalars(values: list[Any]) -> tuple[list[Scalar | None], int]:
    """The values as the store keeps them, and how many were not scalars (kept as None)."""
    if set(map(type, values)) <= {int}:  # the usual column: class numbers, nothing to check
        return values, 0
    checked = list(map(scalar_value, values))
    return [value for value, _ in checked], sum(problem == "label_not_scalar" for _, problem in checked)


def decode_events(batch: ExportLogsServiceRequest, segment_by: tuple[str, ...] = ()) -> DecodedEvents:
    records = prediction_records(batch)
    invalid: Tally[str] = Tally()
    now_ms = time.time_ns() // 1_000_000
    labels = _labels(records.labels, now_ms, invalid)
    predictions: dict[tuple[str, str], PredictionEvents] = {}
    if not len(records):
        return DecodedEvents(predictions, labels, invalid)
    ids = prediction_ids([a.get(ATTR_PREDICTION_ID) for a in records.attributes])
    texts = records.texts()
    model_versions = list(zip(records.models, records.versions, strict=True))
    names = {key: (string_value(key[0]), string_value(key[1])) for key in set(model_versions)}
    keys = list(map(names.__getitem__, model_versions))
    keep = None  # which records go on (None: all of them, the usual batch)
    if None in ids or None in texts or not all(model for model, _ in names.values()):
        keep = _usable(ids, texts, keys, invalid)
    bodies = _decode_bodies(_decode_prediction, texts if keep is None else list(compress(texts, keep)))
    if None in bodies:
        decoded = [body is not None for body in bodies]
        invalid["prediction_body_not_json"] += decoded.count(False)
        following = iter(decoded)
        keep = decoded if keep is None else [usable and next(following) for usable in keep]
        bodies = list(compress(bodies, decoded))

    def pick(values: list) -> list:
        return values if keep is None else list(compress(values, keep))

    rates = pick([a.get(ATTR_SAMPLE_RATE) for a in records.attributes])
    columns = PredictionEvents(
        pick(ids), _times_ms(pick(records.times), now_ms), [], [body.probabilities for body in bodies],
        _weights(rates, invalid),
    )  # fmt: skip
    columns.predictions, not_scalar = _scalars([body.prediction for body in bodies])
    if not_scalar:
        invalid["prediction_not_scalar"] += not_scalar
    if segment_by:  # the same segments as the drift processor's, read the same way
        by_name = batch_segments(segment_by, pick(records.attributes), pick(texts))
        rows = zip(*(by_name[name] for name in segment_by), strict=True)
        columns.segments = [dict(zip(segment_by, values, strict=True)) for values in rows]
    row_keys = pick(keys)
    if len(set(row_keys)) == 1:
        predictions[row_keys[0]] = columns
    else:
        for key in dict.fromkeys(row_keys):
            chosen = [row_key == key for row_key in row_keys]
            predictions[key] = PredictionEvents(
                *(list(compress(values, chosen)) if values else [] for values in (
                    columns.ids, columns.times_ms, columns.predictions, columns.probabilities,
                    columns.weights, columns.segments))
            )  # fmt: skip
    return DecodedEvents(predictions, labels, invalid)


def _labels(records: LabelRecords, now_ms: int, invalid: Tally[str]) -> LabelEvents:
    """The usable labels, as columns read for the whole batch like the predictions."""
    if not len(records):
        return LabelEvents()
    ids = prediction_ids([a.get(ATTR_PREDICTION_ID) for a in records.attributes])
    texts = list(map(body_text, records.bodies))
    bodies = _decode_bodies(_decode_label, [b"null" if text is None else text for text in texts])
    values = [None if body is None else body.label for body in bodies]
    if set(map(type, values)) <= {int} and None not in ids and None not in texts:  # the usual batch
        return LabelEvents(list(zip(ids, values, _times_ms(records.times, now_ms), strict=True)))
    items = []
    for identifier, text, body, time_ms in zip(
        ids, texts, bodies, _times_ms(records.times, now_ms), strict=True
    ):
        if identifier is None:
            invalid["label_id_invalid"] += 1
        elif text is None:
            invalid["label_body_not_json_string"] += 1
        elif body is None:
            invalid["label_body_not_json"] += 1
        else:
            label, problem = scalar_value(body.label)
            if label is None:
                invalid[problem or "label_missing"] += 1
            else:
                items.append((identifier, label, time_ms))
    return LabelEvents(items)
