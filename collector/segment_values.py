"""Segment values of prediction records: which value of a ``segment_by`` attribute a record has.

Shared by the ``performance`` and ``drift`` processors, so a record lands in the same segment
in both: the record attribute of that name when the record has it, else the body's feature of
that name; the value as the drift engine's category text (``category_key``), ``_missing``
for null, NaN, non-scalars and records with neither. The cap on distinct values is the
engine's ``modeltel.performance.segments.SegmentCap``, applied by each processor.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from modeltel.drift.columns import category_key
from modeltel.performance.segments import MISSING

_decode_any = msgspec.json.Decoder().decode


def segment_text(value: Any) -> str:
    """A segment value as a label value: the drift engine's category text (``_missing`` for
    null, NaN and non-scalars)."""
    try:
        key = category_key(value)
    except TypeError:
        return MISSING
    return MISSING if key is None else key


def any_value(value: AnyValue) -> Any:
    """The Python value an AnyValue holds (None when it holds nothing)."""
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def _features(text: bytes | str | msgspec.Raw) -> dict:
    """A features object from its JSON text ({} when it is none)."""
    try:
        decoded = _decode_any(text) if len(text) else {}
    except msgspec.DecodeError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def record_segments(
    segment_by: Sequence[str], attributes: Mapping[str, Any], features: bytes | str | msgspec.Raw
) -> dict[str, str]:
    """One record's value of each segment attribute. ``attributes``: its decoded attribute
    values (at least those named in ``segment_by``); ``features``: the body's features JSON."""
    values = {}
    decoded: dict | None = None
    for name in segment_by:
        if name in attributes:
            values[name] = segment_text(attributes[name])
            continue
        if decoded is None:
            decoded = _features(features)
        values[name] = segment_text(decoded.get(name))
    return values


class _FeaturesOnly(msgspec.Struct, gc=False):
    features: msgspec.Raw = msgspec.Raw(b"")


_decode_features = msgspec.json.Decoder(_FeaturesOnly).decode


def batch_segments(
    segment_by: Sequence[str], attributes: Sequence[Mapping[str, bytes]], texts: Sequence[bytes | None]
) -> dict[str, list[str]]:
    """:func:`record_segments` for a batch read by ``prediction_records``: per segment attribute,
    each record's value. ``attributes``: per record, key -> serialized AnyValue; ``texts``: the
    bodies' JSON. Each distinct attribute value is decoded once per batch, and a body only
    when a record lacks one of the attributes."""
    columns: dict[str, list[str]] = {}
    bodies: dict[int, dict] = {}
    for name in segment_by:
        raw = [a.get(name) for a in attributes]
        distinct = set(raw)
        text_of = {v: segment_text(any_value(AnyValue.FromString(v))) for v in distinct if v is not None}
        if None not in distinct:  # every record has the attribute: no body is read
            columns[name] = list(map(text_of.__getitem__, raw))
            continue
        column = []
        for i, value in enumerate(raw):
            if value is not None:
                column.append(text_of[value])
                continue
            features = bodies.get(i)
            if features is None:
                features = bodies[i] = _body_features(texts[i])
            column.append(segment_text(features.get(name)))
        columns[name] = column
    return columns


def _body_features(text: bytes | None) -> dict:
    if text is None:
        return {}
    try:
        return _features(_decode_features(text).features)
    except msgspec.DecodeError:
        return {}
