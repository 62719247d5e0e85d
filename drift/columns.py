"""Raw column values -> valid numbers or category codes, plus a status per value.

A column arrives as a numpy array (from files and DataFrames) or a list of raw JSON values
(from the wire). Nothing is dropped: each value is valid, missing (None / absent / NaN
float), non-finite (+-inf, or the wire strings "NaN"/"Infinity"/"-Infinity") or a type error
(a string in a numeric feature, a bool, a list, a dict). Clean columns take a vectorised path;
only mixed columns are classified value by value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import numpy as np

VALID, MISSING, NONFINITE, TYPE_ERROR = 0, 1, 2, 3
"""Value status codes."""

NONFINITE_STRINGS = frozenset({"NaN", "Infinity", "-Infinity", "nan", "inf", "-inf"})
_NUMBER_TYPES = (int, float, np.integer, np.floating)
_NUMBERS = frozenset({int, float, np.float64, np.float32, np.int64, np.int32})

Column = np.ndarray | Sequence[Any]


def numeric(values: Column, parse_strings: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Float64 values (NaN where not valid) and a status code per value (None: all valid).

    ``parse_strings`` accepts numeric text ("1.5") as valid, for text files whose reader could
    not type the column; wire values are typed JSON, so there a string is a type error."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        x = values.astype(np.float64, copy=False)
        return _status_from_floats(x)
    if isinstance(values, np.ndarray) and values.dtype.kind == "b":
        n = values.size
        return np.full(n, np.nan), np.full(n, TYPE_ERROR, dtype=np.int8)
    if isinstance(values, np.ndarray) and values.dtype.kind in "US":  # text array: strings
        values = values.astype(object)
    seq = values.tolist() if isinstance(values, np.ndarray) else values
    if set(map(type, seq)) <= _NUMBERS:
        return _status_from_floats(np.fromiter(seq, dtype=np.float64, count=len(seq)))
    n = len(seq)
    status = np.fromiter(map(_numeric_status, seq, repeat(parse_strings)), dtype=np.int8, count=n)
    x = np.full(n, np.nan)
    valid = np.flatnonzero(status == VALID)
    if valid.size:
        x[valid] = [float(seq[i]) for i in valid]
    return x, status


def _status_from_floats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    bad = ~np.isfinite(x)
    if not bad.any():
        return x, None
    status = np.zeros(x.size, dtype=np.int8)
    status[bad] = np.where(np.isnan(x[bad]), MISSING, NONFINITE)
    return np.where(bad, np.nan, x), status


def _numeric_status(value: Any, parse_strings: bool) -> int:
    if value is None:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return TYPE_ERROR
    if isinstance(value, _NUMBER_TYPES):
        f = float(value)
        if math.isnan(f):
            return MISSING
        return VALID if math.isfinite(f) else NONFINITE
    if isinstance(value, str):
        if value in NONFINITE_STRINGS:
            return NONFINITE
        if parse_strings:
            if value.strip() == "":
                return MISSING
            try:
                return VALID if math.isfinite(float(value)) else NONFINITE
            except ValueError:
                return TYPE_ERROR
        return TYPE_ERROR
    return TYPE_ERROR


def category_key(value: Any) -> str | None:
    """The category a scalar stands for; None when it is missing. Integral floats read as ints
    (``5.0`` and ``5`` are the same category), bools as ``True``/``False``."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, _NUMBER_TYPES):
        f = float(value)
        if math.isnan(f):
            return None
        if f.is_integer() and math.isfinite(f):
            return str(int(f))
        return repr(f)
    raise TypeError(type(value).__name__)


UNKNOWN = -1
MISSING_CODE = -2
TYPE_ERROR_CODE = -3


def category_codes(values: Column, index: dict[Any, int]) -> tuple[np.ndarray, list[str]]:
    """Code per value from ``index`` (category -> code >= 0), ``MISSING_CODE``,
    ``TYPE_ERROR_CODE`` or ``UNKNOWN``; and the distinct unknown categories met.

    The common case (hashable, known values) is one C-level map over the column; only
    values the index does not hold are looked at one by one."""
    seq = values.tolist() if isinstance(values, np.ndarray) else values
    n = len(seq)
    try:
        codes = np.fromiter(map(index.get, seq, repeat(UNKNOWN)), dtype=np.int64, count=n)
    except TypeError:  # an unhashable value (list, dict): classify each
        codes = np.fromiter((_safe_get(index, v) for v in seq), dtype=np.int64, count=n)
    unknown = np.flatnonzero(codes == UNKNOWN)
    new: dict[str, None] = {}
    for i in unknown:
        try:
            key = category_key(seq[i])
        except TypeError:
            codes[i] = TYPE_ERROR_CODE
            continue
        if key is None:
            codes[i] = MISSING_CODE
            continue
        code = index.get(key, UNKNOWN)
        codes[i] = code
        if code == UNKNOWN:
            new[key] = None
    return codes, list(new)


def _safe_get(index: dict[Any, int], value: Any) -> int:
    try:
        return index.get(value, UNKNOWN)
    except TypeError:
        return TYPE_ERROR_CODE
