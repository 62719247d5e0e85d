"""A timestamp column as nanoseconds since the Unix epoch.

Accepted forms, per column:

- Arrow/Parquet timestamp or date columns (CSV cells in ISO 8601 are read as such); values
  without a time zone are taken as UTC;
- strings in ISO 8601 (``2024-05-01T12:00:00Z``, ``2024-05-01 12:00:00.250+02:00``,
  ``2024-05-01``), also without a zone (UTC);
- numbers as Unix epoch time, whose unit is chosen by the column's largest magnitude:
  below 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds
  (1e11 s is the year 5138, so every plausible time falls in one band only).
"""

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class TimestampError(ValueError):
    """A cell that is not a time, with its 1-based data row number in the message."""


_EPOCH_UNITS = ((1e11, 1_000_000_000), (1e14, 1_000_000), (1e17, 1_000), (np.inf, 1))


def _first_null(column: pa.ChunkedArray) -> int | None:
    if column.null_count == 0:
        return None
    return int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])


def _epoch_ns(column: pa.ChunkedArray, name: str) -> np.ndarray:
    values = column.to_numpy().astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise TimestampError(f"row {bad[0] + 1}: {name} is {float(values[bad[0]])}, not a time")
    magnitude = float(np.abs(values).max()) if len(values) else 0.0
    per_unit = next(ns for limit, ns in _EPOCH_UNITS if magnitude < limit)
    if pa.types.is_integer(column.type):  # exact: no float rounding of nanoseconds
        return column.to_numpy().astype(np.int64) * per_unit
    whole = np.floor(values)  # split so the fraction is scaled alone: no 2**-22 s rounding of the sum
    return whole.astype(np.int64) * per_unit + np.round((values - whole) * per_unit).astype(np.int64)


def _parse_text(value: str) -> int:
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    delta = parsed - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _text_ns(column: pa.ChunkedArray, name: str) -> np.ndarray:
    try:  # Arrow parses ISO 8601 (with or without zone) in C
        return _timestamp_ns(pc.cast(column, pa.timestamp("ns", "UTC")))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out = np.empty(len(column), dtype=np.int64)
    for row, value in enumerate(column.to_pylist()):  # slower, and names the bad row
        try:
            out[row] = _parse_text(value)
        except ValueError:
            raise TimestampError(f"row {row + 1}: {name} is {value!r}, not an ISO 8601 time") from None
    return out


def _timestamp_ns(column: pa.ChunkedArray) -> np.ndarray:
    return pc.cast(column, pa.timestamp("ns", column.type.tz)).cast(pa.int64()).to_numpy()


def to_unix_nanos(column: pa.ChunkedArray, name: str) -> np.ndarray:
    """int64 nanoseconds for every row; a missing or unparseable cell raises :class:`TimestampError`."""
    null_row = _first_null(column)
    if null_row is not None:
        raise TimestampError(f"row {null_row + 1}: {name} is empty")
    kind = column.type
    if pa.types.is_timestamp(kind):
        return _timestamp_ns(column)
    if pa.types.is_date(kind):
        return _timestamp_ns(pc.cast(column, pa.timestamp("s")))
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _epoch_ns(column, name)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _text_ns(column, name)
    raise TimestampError(f"{name} has type {kind}; expected times, ISO 8601 text or epoch numbers")
