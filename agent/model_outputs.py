"""What a predict-like call returned, as one plain-Python output per row.

The rules (docs/agent.md, "Capture without code changes"):

- ``predict``: the returned value per row: a class label, a regression value, or a list for
  multi-output models;
- ``predict_proba``: the prediction is the most probable class (``classes_[argmax]``) and
  the probabilities map ``str(class)`` to its probability;
- ``decision_function``: the score (a number per row for binary problems, a list for
  multiclass) and the label it implies (positive class when the score is > 0; argmax);
- raw booster outputs (XGBoost/LightGBM ``Booster.predict``): the number or list as
  returned, both as prediction and as score, with the booster's objective, since whether
  it is a margin or a probability depends on it.

One ``tolist()`` per output array; the per-row dicts of probabilities, what the wire
format carries, are built only for the rows the capture core reads (``ClassProbabilities``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np


@dataclass(slots=True)
class Outputs:
    predictions: list[Any]
    probabilities: Sequence[Any] | None = None
    scores: list[Any] | None = None


def _as_array(result: Any) -> np.ndarray | None:
    if type(result) is np.ndarray and result.dtype != object:  # what most models return
        return result
    if hasattr(result, "toarray") and hasattr(result, "nnz"):  # scipy.sparse multilabel output
        return None
    if type(result).__module__.startswith("pandas") and hasattr(result, "to_numpy"):
        result = result.to_numpy()
    array = np.asarray(result)
    return array if array.dtype != object or array.ndim <= 2 else None


def per_row(result: Any) -> list[Any] | None:
    """A value per row; a 2-D result of one column counts as one value per row."""
    array = _as_array(result)
    if array is None or array.ndim == 0:
        return None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    return array.tolist()


class StringKeyedRows(Sequence):
    """Rows of ``{class: probability}`` (ONNX ZipMap output) seen with ``str`` class keys and
    float values, converted when a row is read, like ``ClassProbabilities``."""

    __slots__ = ("rows",)

    def __init__(self, rows: list[dict[Any, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> dict[str, float]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, float]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, float] | list[dict[str, float]]:
        if isinstance(index, slice):
            return [{str(k): float(p) for k, p in row.items()} for row in self.rows[index]]
        return {str(k): float(p) for k, p in self.rows[index].items()}

    def __iter__(self) -> Iterator[dict[str, float]]:
        return iter(self[:])


def _classes(model: Any, count: int) -> np.ndarray:
    classes = getattr(model, "classes_", None)
    if classes is not None:
        classes = np.asarray(classes)
        if classes.ndim == 1 and classes.shape[0] == count:
            return classes
    return np.arange(count)


# id(classes_) -> (the classes_ object, the classes, as Python values, their labels as text):
# a model's classes are fixed once it is fitted, and converting them on every call was a
# measurable share of a 1-row call.
_labels: dict[int, tuple[Any, np.ndarray, list[Any], list[str]]] = {}


def _classes_and_labels(model: Any, count: int) -> tuple[np.ndarray, list[Any], list[str]]:
    own = getattr(model, "classes_", None)
    cached = _labels.get(id(own)) if own is not None else None
    if cached is not None and cached[0] is own and len(cached[3]) == count:
        return cached[1], cached[2], cached[3]
    classes = _classes(model, count)
    values = classes.tolist()
    labels = [str(c) for c in values]
    if own is not None:
        if len(_labels) >= 256:
            _labels.clear()
        _labels[id(own)] = (own, classes, values, labels)  # holding ``own`` keeps its id from being reused
    return classes, values, labels


def _most_probable(matrix: np.ndarray, classes: np.ndarray, values: list[Any]) -> list[Any]:
    """``classes[argmax]`` per row (the first maximum; a NaN counts as the maximum, as in
    numpy). One row, the online case, skips the fancy index and ``tolist``: numpy's fixed
    cost per call is most of the work on 2-10 numbers."""
    if matrix.shape[0] == 1:
        return [values[matrix.argmax()]]
    return classes[matrix.argmax(axis=1)].tolist() if matrix.shape[0] else []


class ClassProbabilities(Sequence):
    """Row i's ``{str(class): probability}``, built when row i is asked for.

    A batch's probabilities stay one array: the capture core reads only the rows it keeps
    (head sampling drops most at low rates), so the per-row dicts, the one per-row Python
    cost of describing a call, are paid only for recorded rows. ``matrix`` and ``labels``
    serve a consumer that wants the columns as they are.
    """

    __slots__ = ("labels", "matrix")

    def __init__(self, matrix: np.ndarray, labels: list[str]) -> None:
        self.matrix = matrix
        self.labels = labels

    def __len__(self) -> int:
        return self.matrix.shape[0]

    @overload
    def __getitem__(self, index: int) -> dict[str, float]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, float]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, float] | list[dict[str, float]]:
        if type(index) is slice:
            return [dict(zip(self.labels, row, strict=True)) for row in self.matrix[index].tolist()]
        return dict(zip(self.labels, self.matrix[index].tolist(), strict=True))

    def __iter__(self) -> Iterator[dict[str, float]]:
        return iter(self[:])

    def __repr__(self) -> str:
        return f"ClassProbabilities({self.labels}, rows={len(self)})"


def from_probabilities(model: Any, result: Any) -> Outputs | None:
    if isinstance(result, list):  # multi-output: one (rows, classes) array per output
        arrays = [np.asarray(r) for r in result]
        if not arrays or any(a.ndim != 2 for a in arrays):
            return None
        classes = getattr(model, "classes_", None)
        if not isinstance(classes, list) or len(classes) != len(arrays):
            classes = [None] * len(arrays)
        per_output = [
            (
                np.asarray(c)[a.argmax(axis=1)]
                if c is not None and len(c) == a.shape[1]
                else a.argmax(axis=1)
            ).tolist()
            for c, a in zip(classes, arrays, strict=True)
        ]
        # zip, not column_stack: outputs may differ in type (strings next to ints)
        return Outputs([list(row) for row in zip(*per_output, strict=True)])
    matrix = _as_array(result)
    if matrix is None or matrix.ndim != 2:
        return None
    classes, values, labels = _classes_and_labels(model, matrix.shape[1])
    return Outputs(_most_probable(matrix, classes, values), ClassProbabilities(matrix, labels))


def _is_outlier_detector(model: Any) -> bool:
    if getattr(model, "_estimator_type", None) == "outlier_detector":
        return True
    base = sys.modules.get("sklearn.base")  # scikit-learn >= 1.6 says so in its tags
    if base is None or not hasattr(model, "__sklearn_tags__"):
        return False
    try:
        return bool(base.is_outlier_detector(model))
    except Exception:
        return False


def from_decision(model: Any, result: Any) -> Outputs | None:
    scores = _as_array(result)
    if scores is None or scores.ndim not in (1, 2):
        return None
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim == 1 and _is_outlier_detector(model):
        implied = np.where(scores > 0, 1, -1)  # scikit-learn's inlier 1 / outlier -1, as predict says
    elif scores.ndim == 1 and getattr(model, "classes_", None) is None:
        return Outputs(scores.tolist(), scores=scores.tolist())  # no classes to name: the score
    elif scores.ndim == 1:  # binary: > 0 means the second class
        classes = _classes(model, 2)
        implied = classes[(scores > 0).astype(np.intp)]
    else:
        classes = _classes(model, scores.shape[1])
        implied = classes[scores.argmax(axis=1)] if scores.shape[0] else classes[:0]
    return Outputs(implied.tolist(), scores=scores.tolist())


def from_predict(result: Any) -> Outputs | None:
    values = per_row(result)
    return None if values is None else Outputs(values)


def from_raw_scores(result: Any) -> Outputs | None:
    values = per_row(result)
    return None if values is None else Outputs(values, scores=values)


def describe_outputs(model: Any, method: str, result: Any) -> Outputs | None:
    if method == "predict_proba":
        return from_probabilities(model, result)
    if method == "decision_function":
        return from_decision(model, result)
    return from_predict(result)
