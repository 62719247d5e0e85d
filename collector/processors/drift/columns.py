"""Prediction rows -> the column mapping ``WindowCounts.add`` ingests, built per batch.

Input features come from the body's ``features`` object, the prediction from ``prediction``
(column ``prediction_column``) and class probabilities from ``probabilities`` (a dict gives
one column ``<probability_prefix><class>`` per class, a list ``<probability_prefix><index>``),
so outputs are profiled and tested like features. All-number feature sets (the common case)
become one float matrix in a single numpy call; anything else is handed to the engine as
raw value lists, which it classifies (missing / non-finite / type error) without dropping.
"""

from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from modeltel.collector.processors.drift.records import Rows
from modeltel.drift import Profile

Columns = dict[str, np.ndarray | list]
_NUMBER_TYPES = frozenset({float, int})


def _getter(names: Sequence[str]) -> Callable[[dict], tuple]:
    if len(names) == 1:
        name = names[0]
        return lambda mapping: (mapping[name],)
    return itemgetter(*names)


def output_columns(
    predictions: Iterable[Any], probabilities: Iterable[Any], prediction_column: str, prefix: str
) -> dict[str, list]:
    """Output columns of raw rows, for bootstrapping a reference: every class seen becomes one."""
    columns: dict[str, list] = {}
    predictions = list(predictions)
    probabilities = list(probabilities)
    if any(p is not None for p in predictions):
        columns[prediction_column] = predictions
    keys: dict[str, None] = {}
    for p in probabilities:
        if isinstance(p, dict):
            keys.update(dict.fromkeys(map(str, p)))
        elif isinstance(p, list):
            keys.update(dict.fromkeys(map(str, range(len(p)))))
    for key in keys:
        columns[f"{prefix}{key}"] = [_probability(p, key) for p in probabilities]
    return columns


def _probability(p: Any, key: str) -> Any:
    if isinstance(p, dict):
        return p.get(key)
    if isinstance(p, list) and key.isdigit() and int(key) < len(p):
        return p[int(key)]
    return None


class ColumnBuilder:
    """Knows one profile's columns and builds them from a group of rows."""

    def __init__(self, profile: Profile, prediction_column: str, prefix: str) -> None:
        inputs = [f for f in profile.features if f.role == "feature"]
        self.numeric = [f.name for f in inputs if f.numeric is not None]
        self.other = [f.name for f in inputs if f.numeric is None]
        self.inputs = [*self.numeric, *self.other]
        self._input_set = frozenset(self.inputs)
        self._numeric_getter = _getter(self.numeric) if self.numeric else None
        self._other_getter = _getter(self.other) if self.other else None
        self.prediction = prediction_column if prediction_column in profile.names else None
        self.scores = {
            f.name: f.name[len(prefix) :]
            for f in profile.features
            if f.role in ("score", "prediction") and f.name.startswith(prefix) and f.name != prediction_column
        }
        self._score_getter = _getter(list(self.scores.values())) if self.scores else None

    def build(self, rows: Rows) -> Columns:
        features = rows.features
        columns: Columns = {}
        present = self._input_set
        if set(map(len, features)) != {len(self.inputs)}:
            seen = set().union(*features)
            present = self._input_set & seen
            for name in seen - self._input_set:  # unexpected: counted by the engine, by name
                columns[name] = [f.get(name) for f in features]
        columns.update(self._inputs(features, present))
        if self.prediction is not None and rows.predictions.count(None) != len(rows.predictions):
            columns[self.prediction] = rows.predictions
        if self.scores:
            columns.update(self._scores(rows.probabilities))
        return columns

    def _scores(self, probabilities: list[Any]) -> dict[str, list]:
        """One column per class; all-dict rows (the agent's form) take a C-level path."""
        if set(map(type, probabilities)) == {dict}:
            try:
                table = list(map(self._score_getter, probabilities))
            except KeyError:
                pass
            else:
                return dict(zip(self.scores, map(list, zip(*table, strict=True)), strict=True))
        return {name: [_probability(p, key) for p in probabilities] for name, key in self.scores.items()}

    def _inputs(self, features: list[dict], present: frozenset[str] | set[str]) -> Columns:
        columns: Columns = {}
        complete = len(present) == len(self.inputs)
        if self._numeric_getter is not None:
            names = self.numeric
            if complete:
                try:
                    table = list(map(self._numeric_getter, features))
                except KeyError:  # a record lacks a feature others have: missing there
                    table = None
            else:
                table = None
            if table is None:
                table = [tuple(f.get(n) for n in names) for f in features]
            flat = list(chain.from_iterable(table))
            if set(map(type, flat)) <= _NUMBER_TYPES:  # bools, strings, None: the engine classifies
                matrix = np.fromiter(flat, dtype=np.float64, count=len(flat)).reshape(len(features), -1)
                columns.update(zip(names, matrix.T.copy(), strict=True))
            else:
                columns.update(zip(names, map(list, zip(*table, strict=True)), strict=True))
        if self._other_getter is not None:
            names = self.other
            try:
                table = list(map(self._other_getter, features)) if complete else None
            except KeyError:
                table = None
            if table is None:
                table = [tuple(f.get(n) for n in names) for f in features]
            columns.update(zip(names, map(list, zip(*table, strict=True)), strict=True))
        for name in self.inputs:
            if name not in present:
                columns.pop(name, None)  # absent from the whole batch: a schema change
        return columns


def slice_columns(columns: Columns, index: np.ndarray) -> Columns:
    """The rows ``index`` of every column (arrays by fancy indexing, lists by position)."""
    positions = index.tolist()
    return {
        name: values[index] if isinstance(values, np.ndarray) else [values[i] for i in positions]
        for name, values in columns.items()
    }
