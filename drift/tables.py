"""Tabular input for profiles and checks: Parquet or CSV files, pandas DataFrames, pyarrow
Tables or plain mappings of arrays, all turned into named numpy columns with a logical type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from modeltel.drift.columns import NONFINITE_STRINGS

Logical = Literal["integer", "float", "bool", "string", "other"]


class DataError(ValueError):
    """Input data that cannot be read as a table."""


@dataclass
class TableColumn:
    name: str
    values: np.ndarray  # float64 for numbers (NaN = null), object for everything else
    logical: Logical
    dtype: str  # the source type, for humans


def read_table(path: str | Path) -> pa.Table:
    """A Parquet (``.parquet``/``.pq``) or CSV (anything else) file as a pyarrow Table."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return pq.read_table(path)
        import pyarrow.csv as pcsv

        return pcsv.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory") from None
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"{path}: cannot read as {_kind(path)}: {error}") from None


def _kind(path: Path) -> str:
    return "Parquet" if path.suffix.lower() in (".parquet", ".pq") else "CSV"


def _arrow_column(name: str, array: pa.ChunkedArray) -> TableColumn:
    kind = array.type
    if pa.types.is_dictionary(kind):
        array = array.cast(kind.value_type)
        kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        values = array.cast(pa.float64()).to_numpy(zero_copy_only=False)
        logical: Logical = "integer" if pa.types.is_integer(kind) else "float"
        return TableColumn(name, np.asarray(values, dtype=np.float64), logical, str(kind))
    values = np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)
    if pa.types.is_boolean(kind):
        return TableColumn(name, values, "bool", str(kind))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return TableColumn(name, values, "string", str(kind))
    return TableColumn(name, values, "other", str(kind))


def _pandas_column(name: str, series: Any) -> TableColumn:
    kind = series.dtype.kind
    if kind in "iuf":
        logical: Logical = "float" if kind == "f" else "integer"
        return TableColumn(
            name, series.to_numpy(dtype=np.float64, na_value=np.nan), logical, str(series.dtype)
        )
    if kind == "b":
        return TableColumn(name, series.to_numpy(dtype=object), "bool", str(series.dtype))
    values = series.to_numpy(dtype=object)
    return TableColumn(name, values, _object_logical(values), str(series.dtype))


def _numberish(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return False
    return isinstance(value, int | float | np.integer | np.floating) or value in NONFINITE_STRINGS


def _object_logical(values: np.ndarray) -> Logical:
    """Type of an object column from its first 1000 present values: numbers (with the wire's
    non-finite strings) are numeric and stay objects, so their statuses are counted later."""
    present = [v for v in values[:1000].tolist() if v is not None and v == v]
    if not present:
        return "other"
    if all(isinstance(v, str) for v in present) and not all(v in NONFINITE_STRINGS for v in present):
        return "string"
    if all(isinstance(v, bool | np.bool_) for v in present):
        return "bool"
    if all(_numberish(v) for v in present):
        return "float"
    return "other"


def columns(data: Any) -> list[TableColumn]:
    """Named columns of a path, pandas DataFrame, pyarrow Table or mapping of arrays."""
    if isinstance(data, str | Path):
        data = read_table(data)
    if isinstance(data, pa.Table):
        return [_arrow_column(name, data.column(name)) for name in data.column_names]
    if hasattr(data, "dtypes") and hasattr(data, "columns"):  # a pandas DataFrame
        return [_pandas_column(str(name), data[name]) for name in data.columns]
    if isinstance(data, Mapping):
        out = []
        for name, values in data.items():
            array = np.asarray(values)
            if array.dtype.kind in "iuf":
                logical: Logical = "float" if array.dtype.kind == "f" else "integer"
                out.append(TableColumn(str(name), array.astype(np.float64), logical, str(array.dtype)))
            else:
                obj = np.asarray(values, dtype=object)
                logical = "bool" if array.dtype.kind == "b" else _object_logical(obj)
                out.append(TableColumn(str(name), obj, logical, str(array.dtype)))
        return out
    raise DataError(f"cannot read a table from {type(data).__name__}")
