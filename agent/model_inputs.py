"""The rows a model was called with, as a 2-D array and a name per column.

Column names, first match of the right width wins (docs/agent.md):

1. the input's own: pandas DataFrame columns, an XGBoost DMatrix's ``feature_names``;
2. names given to ``register_model(..., feature_names=[...])``;
3. the model's: scikit-learn ``feature_names_in_`` (set when it was fitted on a DataFrame),
   LightGBM ``feature_name_`` / ``Booster.feature_name()`` (its placeholder
   ``Column_<i>`` names count as none), XGBoost ``Booster.feature_names``;
4. for a one-row call inside a FastAPI request, the request's pydantic body model fields;
5. positional ``f0 … f<n-1>``.

Everything is one vectorised conversion per call; nothing here loops over rows.
Sparse inputs (scipy.sparse, DMatrix) are densified only when small (at most
``SPARSE_MAX_COLUMNS`` columns and ``SPARSE_MAX_CELLS`` cells); larger ones are described
by their row count alone, with no feature values.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from modeltel.agent.model_registry import registered_feature_names
from modeltel.agent.request_context import request_feature_names

SPARSE_MAX_COLUMNS = 1024
SPARSE_MAX_CELLS = 1_000_000


@dataclass
class Inputs:
    """``features`` is a 2-D array of ``rows`` rows and ``len(names)`` columns."""

    names: list[str]
    features: Any
    rows: int


@lru_cache(maxsize=64)
def _positional(width: int) -> tuple[str, ...]:
    return tuple(f"f{i}" for i in range(width))


def positional_names(width: int) -> list[str]:
    return list(_positional(width))


def _is_dataframe(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("pandas") and hasattr(data, "columns") and hasattr(data, "to_numpy")


def _is_sparse(data: Any) -> bool:
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(data)


def _valid(names: Any, width: int) -> list[str] | None:
    if names is None:
        return None
    try:
        names = [str(n) for n in names]
    except TypeError:
        return None
    return names if len(names) == width else None


def model_feature_names(model: Any, width: int) -> list[str] | None:
    """Names the model learnt its columns by, when they are real names of this width."""
    names = _valid(getattr(model, "feature_names_in_", None), width)
    if names is not None:
        return names
    lightgbm_names = getattr(model, "feature_name_", None)  # LGBMModel (a property on the fitted model)
    if lightgbm_names is None and callable(getattr(model, "feature_name", None)):
        try:
            lightgbm_names = model.feature_name()  # lightgbm Booster
        except Exception:
            lightgbm_names = None
    names = _valid(lightgbm_names, width)
    if names is not None and not (names and names[0] == "Column_0" and names[-1] == f"Column_{width - 1}"):
        return names
    if type(model).__module__.startswith("xgboost"):
        return _valid(getattr(model, "feature_names", None), width)
    return None


def _names(model: Any, own: list[str] | None, width: int, rows: int) -> list[str]:
    if own is not None:
        return own
    names = _valid(registered_feature_names(model), width)
    if names is None:
        names = model_feature_names(model, width)
    if names is None and rows == 1:
        names = request_feature_names(width)
    return names if names is not None else positional_names(width)


def _unnamed(rows: int) -> Inputs:
    return Inputs([], np.empty((rows, 0)), rows)


def _densified(matrix: Any) -> Any | None:
    rows, width = matrix.shape
    if width > SPARSE_MAX_COLUMNS or rows * width > SPARSE_MAX_CELLS:
        return None
    return matrix.toarray()


def describe_rows(
    model: Any, data: Any, *, outputs: int | None = None, column_names: list[str] | None = None
) -> Inputs | None:
    """Describe ``data`` as given to ``model``; None when it is not tabular data.

    ``outputs`` is how many results the call returned: it settles whether a 1-D input was
    one row (as a Booster accepts it) or one column of many rows. ``column_names`` are
    names the input carries outside ``data`` (an ONNX feed's input names).
    """
    own_names: list[str] | None = column_names
    if type(data) is np.ndarray:  # the common case first
        array = data
    elif _is_dataframe(data):
        own_names = [str(c) for c in data.columns]
        array = data.to_numpy()
    elif _is_sparse(data):
        if data.ndim != 2:
            return None
        dense = _densified(data)
        if dense is None:
            return _unnamed(data.shape[0])
        array = dense
    elif type(data).__name__ == "DMatrix" and type(data).__module__.startswith("xgboost"):
        return _describe_dmatrix(model, data)
    elif isinstance(data, (str, bytes)) or data is None or isinstance(data, dict):
        return None  # a file path (LightGBM accepts one) or something that is not rows
    else:
        array = np.asarray(data)
    if array.ndim == 1:
        # One output for several values: one row of a Booster; otherwise a column.
        array = array.reshape(1, -1) if outputs == 1 and array.shape[0] != 1 else array.reshape(-1, 1)
    elif array.ndim == 0:
        array = array.reshape(1, 1)
    elif array.ndim > 2:
        return None
    rows, width = array.shape
    return Inputs(_names(model, _valid(own_names, width), width, rows), array, rows)


def _describe_dmatrix(model: Any, matrix: Any) -> Inputs | None:
    rows, width = matrix.num_row(), matrix.num_col()
    if width > SPARSE_MAX_COLUMNS or rows * width > SPARSE_MAX_CELLS:
        return _unnamed(rows)
    try:
        csr = matrix.get_data()
    except Exception:  # older XGBoost, or a DMatrix that keeps no copy of its data
        return _unnamed(rows)
    if csr.shape != (rows, width):
        return _unnamed(rows)
    # Cells absent from the CSR are missing values to XGBoost, not zeros.
    dense = np.full((rows, width), np.nan)
    dense[np.repeat(np.arange(rows), np.diff(csr.indptr)), csr.indices] = csr.data
    own = _valid(matrix.feature_names, width)
    return Inputs(_names(model, own, width, rows), dense, rows)
