"""Reading the input file and deciding what each column is.

Parquet is read by its schema; CSV by pyarrow's reader, which infers numbers, booleans and
ISO 8601 times. In CSV an empty cell (or NA, N/A, NULL, null, None) is missing, sent as
``null``, while ``nan``/``NaN``/``inf``/``-inf`` are the floats, sent as the contract's
"NaN"/"Infinity"/"-Infinity": a NaN a model saw is not a missing value.

Every column that is not the prediction, id, timestamp or label column and is not excluded
is a feature, in file order.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

DEFAULT_PREDICTION_COLUMN = "prediction"
_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
CSV_MISSING = ["", "NA", "N/A", "#N/A", "NULL", "null", "None"]
"""pyarrow's default missing markers without the NaN spellings, which stay floats."""


class InputError(ValueError):
    """The file or its columns cannot be replayed; the message says what to change."""


@dataclass(frozen=True)
class Columns:
    """Which columns play which role; ``None`` where the role is absent."""

    features: tuple[str, ...]
    prediction: str | None
    prediction_id: str | None
    timestamp: str | None
    label: str | None


def read_table(path: Path, id_column: str | None = None) -> pa.Table:
    """The whole file as an Arrow table; ``.parquet``/``.pq`` by extension, otherwise CSV."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pq.read_table(path)
        # Ids stay text even when one happens to be all digits.
        convert = pa_csv.ConvertOptions(
            column_types={id_column: pa.string()} if id_column else {},
            null_values=CSV_MISSING,
            strings_can_be_null=True,
        )
        return pa_csv.read_csv(path, convert_options=convert)
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{path}: cannot be read as {_format_name(path)}: {error}") from None


def _format_name(path: Path) -> str:
    return "Parquet" if path.suffix.lower() in (".parquet", ".pq") else "CSV"


def choose_columns(
    names: Sequence[str],
    *,
    prediction: str | None,
    prediction_id: str | None,
    timestamp: str | None,
    label: str | None,
    exclude: Sequence[str] = (),
) -> Columns:
    """Assign roles; every column named on the command line must exist (all missing ones are named)."""
    present = set(names)
    named = [prediction, prediction_id, timestamp, label, *exclude]
    missing = [name for name in named if name is not None and name not in present]
    if missing:
        raise InputError(f"column(s) not in the file: {', '.join(missing)} (it has: {', '.join(names)})")
    if prediction is None and DEFAULT_PREDICTION_COLUMN in present:
        prediction = DEFAULT_PREDICTION_COLUMN
    roles = {prediction, prediction_id, timestamp, label, *exclude}
    features = tuple(name for name in names if name not in roles)
    if not features:
        raise InputError(
            "no feature columns left: every column is the prediction, id, time, label or excluded"
        )
    return Columns(features, prediction, prediction_id, timestamp, label)


def normalised_ids(column: pa.ChunkedArray, name: str) -> list[str]:
    """Prediction ids as the contract's 32 lowercase hex digits; UUID text is accepted (dashes dropped)."""
    ids = [None if value is None else str(value).replace("-", "").lower() for value in column.to_pylist()]
    for row, value in enumerate(ids):
        if value is None or not _HEX_ID.match(value):
            shown = column[row].as_py()
            raise InputError(
                f"row {row + 1}: {name} is {shown!r}; prediction ids must be 32 hex digits or a UUID"
            )
    return ids  # type: ignore[return-value]
