"""Class labels and probability rows as the performance engine takes them.

The wire carries labels and predictions as JSON scalars and probabilities as ``{class: p}``
objects (or arrays in class order); files carry them as typed columns. Everything is turned
into the same canonical class strings the drift engine uses for categories
(``modeltel.drift.columns.category_key``: ``1``, ``1.0`` and ``"1"`` are the class ``"1"``,
bools ``"True"``/``"False"``), so a label from the collector, a prediction from the agent and
a target column read from CSV meet as equal strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from modeltel.drift.columns import category_key


class PerformanceInputError(ValueError):
    """Labels, predictions, probabilities or weights that cannot be scored (NaN, wrong type,
    unknown class, misaligned lengths). The message says which and how many."""


def label_keys(values: Any, what: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """Canonical class strings of ``values`` (array or sequence of scalars) and a mask of the
    usable ones; a missing value (None, NaN) or a list/dict is unusable (its key is "").

    For files and references, whose rows without a label are left out (and counted)."""
    array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if array.ndim != 1:
        raise PerformanceInputError(f"{what} must be one-dimensional, got shape {array.shape}")
    if array.dtype.kind == "U":
        return array, np.ones(array.size, dtype=bool)
    if array.dtype.kind in "fiub":
        usable = ~np.isnan(array) if array.dtype.kind == "f" else np.ones(array.size, dtype=bool)
        distinct, inverse = np.unique(np.where(usable, array, 0) if array.dtype.kind == "f" else array,
                                      return_inverse=True)  # fmt: skip
        keys = np.asarray([category_key(v) for v in distinct.tolist()], dtype=str)
        out = keys[inverse] if keys.size else np.asarray([], dtype=str)
        return np.where(usable, out, ""), usable
    seq = array.tolist()
    if set(map(type, seq)) == {str}:  # the collector's and the common file case: already classes
        return np.asarray(seq, dtype=str), np.ones(len(seq), dtype=bool)
    keys_of: dict[Any, str | None] = {}
    hashed = list(map(_hashable_key, seq))
    for key, value in zip(hashed, seq, strict=True):
        if key not in keys_of:
            try:
                keys_of[key] = category_key(value)
            except TypeError:
                keys_of[key] = None
    out = list(map(keys_of.__getitem__, hashed))
    usable = np.fromiter((k is not None for k in out), dtype=bool, count=len(out))
    return np.asarray([k or "" for k in out], dtype=str), usable


def class_labels(values: Any, what: str = "labels") -> np.ndarray:
    """Canonical class strings of ``values``, as a str array.

    Raises PerformanceInputError on missing values (None, NaN) and on lists/dicts: a metric
    over rows with an unknown truth would be silently wrong."""
    keys, usable = label_keys(values, what)
    if not usable.all():
        raise PerformanceInputError(
            f"{int((~usable).sum())} of {usable.size} {what} are missing (None, NaN) "
            "or not scalars (lists, dicts)"
        )
    return keys


def _hashable_key(value: Any) -> Any:
    """A dict key for ``value``: floats keep their type (so 1.0 and True do not collide)."""
    try:
        hash(value)
    except TypeError:
        return ("unhashable", repr(value))
    return (type(value).__name__, value)


def proba_matrix(probabilities: Sequence[Any], classes: Sequence[str]) -> np.ndarray:
    """An (n, k) float matrix, columns in ``classes`` order, from the wire's rows: a dict
    ``{class: p}`` (keys canonicalised like labels) or a list in class order. A class a row
    lacks, a None row or a non-number is NaN, so the caller can tell (and count) bad rows."""
    fast = _all_number_dicts(probabilities, classes)
    if fast is not None:
        return fast
    index = {c: i for i, c in enumerate(classes)}
    out = np.full((len(probabilities), len(classes)), np.nan)
    for row, p in enumerate(probabilities):
        if isinstance(p, dict):
            for key, value in p.items():
                try:
                    column = index.get(category_key(key))
                except TypeError:
                    continue
                if column is not None and _is_number(value):
                    out[row, column] = float(value)
        elif isinstance(p, list | tuple) and len(p) == len(classes):
            out[row] = [float(v) if _is_number(v) else np.nan for v in p]
    return out


def _all_number_dicts(probabilities: Sequence[Any], classes: Sequence[str]) -> np.ndarray | None:
    """The agent's form (every row a dict holding every class as a number) in C-level calls;
    None when any row differs, for the row-by-row path."""
    if not probabilities or set(map(type, probabilities)) != {dict}:
        return None
    pick = itemgetter(*classes) if len(classes) > 1 else (lambda p: (p[classes[0]],))
    try:
        table = list(map(pick, probabilities))
    except KeyError:
        return None
    flat = list(chain.from_iterable(table))
    if not set(map(type, flat)) <= {float, int}:
        return None
    return np.fromiter(flat, dtype=np.float64, count=len(flat)).reshape(len(probabilities), len(classes))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def float_array(values: Any, what: str) -> np.ndarray:
    """``values`` as float64, or a PerformanceInputError naming ``what`` (strings, ragged rows)."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise PerformanceInputError(f"{what} must be numbers") from None


def checked_weights(weights: Any, n: int) -> np.ndarray:
    """Row weights (``1/sample_rate``), or ones. Must be finite, non-negative, one per row."""
    if weights is None:
        return np.ones(n)
    w = float_array(weights, "weights")
    if w.shape != (n,):
        raise PerformanceInputError(f"weights must have one value per row ({n}), got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise PerformanceInputError("weights must be finite and non-negative")
    return w


def checked_proba(proba: Any, n: int, k: int) -> np.ndarray:
    """An (n, k) probability matrix with finite values in [0, 1] (a 1e-6 slack for rounding)."""
    p = float_array(proba, "proba")
    if p.ndim == 1 and k == 2:
        p = np.column_stack([1.0 - p, p])
    if p.shape != (n, k):
        raise PerformanceInputError(f"proba must have shape ({n}, {k}) (rows, classes), got {p.shape}")
    if not np.isfinite(p).all():
        raise PerformanceInputError(f"proba has {int((~np.isfinite(p)).any(axis=1).sum())} rows with NaN/inf")
    if (p < -1e-6).any() or (p > 1 + 1e-6).any():
        raise PerformanceInputError("proba values must lie in [0, 1]")
    return np.clip(p, 0.0, 1.0)
