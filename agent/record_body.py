"""A prediction's features and outputs as the JSON text of its log record body.

JSON text in the body, not attributes: the collector decodes a JSON body with orjson about
ten times faster than it can walk 25 protobuf attributes in Python, and Loki caps structured
metadata per line, while a JSON line stays queryable there with ``| json``.
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def feature_mapping(features: Any) -> dict[str, Any]:
    """Named features of one row.

    A mapping or pydantic model names its own; so does a pandas Series (its index) or a
    one-row DataFrame (its columns). Sequences and numpy rows are named ``f0..fN``.
    """
    if type(features) is dict:  # read, never kept or changed: no copy (and no ABC check)
        return features
    if isinstance(features, Mapping):
        return dict(features)
    model_dump = getattr(features, "model_dump", None)
    if callable(model_dump):
        return model_dump()
    ndim = getattr(features, "ndim", None)
    if ndim is not None:  # numpy or pandas
        shape = tuple(features.shape)
        if ndim == 2 and shape[0] == 1:
            iloc = getattr(features, "iloc", None)
            features, ndim = (iloc[0] if iloc is not None else features[0]), 1
        if ndim != 1:
            raise TypeError(f"features must be one row, got shape {shape}: record one prediction per row")
        if callable(getattr(features, "to_dict", None)):
            return features.to_dict()
        features = features.tolist()
    if isinstance(features, Sequence) and not isinstance(features, (str, bytes)):
        return {f"f{index}": value for index, value in enumerate(features)}
    kind = type(features).__name__
    raise TypeError(f"features must be a mapping, a pydantic model, a pandas row or a sequence, not {kind}")


def json_fallback(value: Any) -> Any:
    """Unknown objects are kept as their text rather than lost."""
    return str(value)


def _finite_or_name(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else _NON_FINITE[value]
    if isinstance(value, dict):
        return {key: _finite_or_name(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_name(item) for item in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy scalar or array
        return _finite_or_name(value.tolist())
    return value


def encode_body_bytes(payload: dict[str, Any]) -> bytes:
    """JSON as UTF-8 bytes; NaN and infinities become the strings proto3 JSON uses ("NaN",
    "Infinity"). Bytes, because that is what the record's wire encoding needs.

    orjson writes non-finite floats as ``null``, which would make a NaN look like a missing
    value; the slower rewrite runs only when ``null`` appears in the fast output.
    """
    encoded = orjson.dumps(payload, default=json_fallback, option=JSON_OPTIONS)
    if b"null" in encoded:
        encoded = orjson.dumps(_finite_or_name(payload), default=json_fallback, option=JSON_OPTIONS)
    return encoded


def encode_body(payload: dict[str, Any]) -> str:
    """``encode_body_bytes`` as text."""
    return encode_body_bytes(payload).decode()
