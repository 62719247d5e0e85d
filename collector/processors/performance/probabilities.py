"""Class probabilities as the join store keeps them: float32 bytes in the stream's class order.

4 bytes per class instead of a JSON object per row. float32 keeps 7 significant digits, so
metrics computed from stored probabilities match those from the originals to about 1e-7.
A body's ``probabilities`` is an object ``{class: p}`` (the agent's form) or a list in class
order (named ``"0"``, ``"1"``, ...). Rows whose probabilities are absent or not numbers in
[0, 1] are stored without (counted as ``probabilities_invalid`` when present but bad).
"""

from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np

from modeltel.collector.processors.performance.store import JoinStore, Stream

_NUMBER_TYPES = frozenset({int, float})


def _row_names(probabilities: Any) -> Sequence[str] | None:
    if isinstance(probabilities, dict):
        return list(probabilities)
    if isinstance(probabilities, list):
        return [str(index) for index in range(len(probabilities))]
    return None


def _valid(matrix: np.ndarray) -> np.ndarray:
    return np.isfinite(matrix).all(axis=1) & (matrix >= 0).all(axis=1) & (matrix <= 1).all(axis=1)


def _rows_of_numbers(matrix: np.ndarray) -> tuple[list[bytes | None], int]:
    """Each row of a float64 matrix as float32 bytes (None when not probabilities)."""
    valid = _valid(matrix)
    data = matrix.astype(np.float32).tobytes()
    size = matrix.shape[1] * 4
    rows: list[bytes | None] = [data[start : start + size] for start in range(0, len(data), size)]
    if not valid.all():
        for position in np.flatnonzero(~valid).tolist():
            rows[position] = None
    return rows, int((~valid).sum())


def _same_classes_batch(store: JoinStore, stream: Stream, rows: list[Any]) -> np.ndarray | None:
    """The batch as one float64 matrix when every row is an object of numbers naming the
    stream's classes in its order (the agent's form; new classes are added first), else None."""
    if not rows or set(map(type, rows)) != {dict}:
        return None
    orders = set(map(tuple, rows))
    if len(orders) != 1:
        return None
    (order,) = orders
    if not order:
        return None
    new = [name for name in order if name not in stream.index]
    if new:
        store.add_classes(stream, new)
    if list(order) != stream.classes:
        return None
    values = list(chain.from_iterable(map(dict.values, rows)))
    if not set(map(type, values)) <= _NUMBER_TYPES:  # numpy would take True or parse "0.2"
        return None
    return np.array(values, dtype=np.float64).reshape(len(rows), len(order))


def encode_probabilities(store: JoinStore, stream: Stream, rows: list[Any]) -> tuple[list[bytes | None], int]:
    """Per row the float32 bytes (or None), and how many rows had unusable probabilities."""
    matrix = _same_classes_batch(store, stream, rows)
    if matrix is not None:  # the usual batch: numpy for all of it, no per-row checks
        return _rows_of_numbers(matrix)
    encoded: list[bytes | None] = [None] * len(rows)
    names: dict[str, None] = {}
    same_order: list[int] = []
    others: list[int] = []
    for position, probabilities in enumerate(rows):
        row_names = _row_names(probabilities)
        if row_names is None:
            if probabilities is not None:
                others.append(position)  # counted as invalid below
            continue
        if row_names == stream.classes:
            same_order.append(position)
        else:
            names.update(dict.fromkeys(row_names))
            others.append(position)
    new = [name for name in names if name not in stream.index]
    if new:
        store.add_classes(stream, new)
        others, same_order = same_order + others, []  # their width changed
    invalid = 0
    width = len(stream.classes)
    if same_order:  # the common case: one numpy conversion for the whole batch
        values = [list(rows[p].values()) if isinstance(rows[p], dict) else rows[p] for p in same_order]
        if not set(map(type, chain.from_iterable(values))) <= _NUMBER_TYPES:  # numpy would parse "0.2"
            others += same_order
        else:
            same_rows, invalid = _rows_of_numbers(np.array(values, dtype=np.float64))
            for position, row in zip(same_order, same_rows, strict=True):
                encoded[position] = row
    for position in others:
        probabilities = rows[position]
        vector = np.zeros(width, dtype=np.float64)
        row_names = _row_names(probabilities)
        if row_names is None:
            invalid += 1
            continue
        values = probabilities.values() if isinstance(probabilities, dict) else probabilities
        try:
            for name, value in zip(row_names, values, strict=True):
                if type(value) not in _NUMBER_TYPES:
                    raise TypeError("a probability is a JSON number")
                vector[stream.index[name]] = value
        except (TypeError, ValueError):
            invalid += 1
            continue
        if _valid(vector[None, :])[0]:
            encoded[position] = vector.astype(np.float32).tobytes()
        else:
            invalid += 1
    return encoded, invalid


def probability_matrix(blobs: Sequence[bytes | None], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows x ``width`` float64 probabilities and which rows had any (rows stored when the stream
    had fewer classes read 0 for the newer ones)."""
    present = np.fromiter((blob is not None for blob in blobs), dtype=bool, count=len(blobs))
    matrix = np.zeros((len(blobs), width), dtype=np.float64)
    if not present.any() or width == 0:
        return matrix, present
    full = width * 4
    if all(len(blob) == full for blob in blobs if blob is not None):
        data = np.frombuffer(b"".join(blob for blob in blobs if blob is not None), dtype=np.float32)
        matrix[present] = data.reshape(-1, width)
        return matrix, present
    for row, blob in enumerate(blobs):
        if blob is not None:
            values = np.frombuffer(blob, dtype=np.float32)
            matrix[row, : len(values)] = values
    return matrix, present
