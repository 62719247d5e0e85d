"""Prediction bodies -> the column mapping ``WindowCounts.add`` ingests, a few thousand at a time.

Input features come from the body's ``features`` object, the prediction from ``prediction``
(column ``prediction_column``) and class probabilities from ``probabilities`` (a dict gives
one column ``<probability_prefix><class>`` per class, a list ``<probability_prefix><index>``),
so outputs are profiled and tested like features.

Fast path: the profile fixes the feature names, so the JSON texts are decoded straight into
typed msgspec Structs (one ``decode`` per chunk of bodies joined into a JSON array): numeric
features as ``float | None`` (an int literal becomes its float; a bool, a string or anything
else fails the decode), other features as raw values, a key missing from a record as
``UNSET``. The numeric values of all rows then become one float matrix in one numpy call.
A chunk msgspec refuses is decoded record by record; a record that still fails (a string in a
numeric feature, a key the profile lacks, ...) is decoded with orjson, the wire reference, and
its raw values are classified by the engine exactly as before (missing / non-finite / type
error), never dropped. Keys met that the profile lacks are learned into the typed decoder, so
a sender that always adds one (a column excluded from the profile) stays on the fast path.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

import msgspec
import numpy as np
import orjson
from msgspec import UNSET, UnsetType

from modeltel.drift import Profile

Columns = dict[str, np.ndarray | list]
_NUMBER_TYPES = frozenset({float, int})
_GAP_TYPES = frozenset({type(None), UnsetType})  # a null value, a missing key
CHUNK = 512
"""Bodies per msgspec call: one bad body costs a re-decode of its chunk only."""
MAX_LEARNED_KEYS = 100
"""Unexpected feature keys the typed decoder learns (the engine remembers as many names)."""


def _getter(names: Sequence[str]) -> Callable[[dict], tuple]:
    if len(names) == 1:
        name = names[0]
        return lambda mapping: (mapping[name],)
    return itemgetter(*names)


def _fields_getter(fields: Sequence[str]) -> Callable[[Any], tuple]:
    """The values of ``fields`` of a struct as one tuple, read in C."""
    if not fields:
        return lambda struct: ()
    if len(fields) == 1:
        get = attrgetter(fields[0])
        return lambda struct: (get(struct),)
    return attrgetter(*fields)


def _transpose(table: list[tuple], width: int) -> list[list[Any]]:
    """Rows of ``width`` values -> ``width`` columns."""
    if not table:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*table, strict=True)] if width else []


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


class _TypedBodies:
    """msgspec decoders for bodies whose features have only known keys (each one optional).

    Every struct is ``gc=False`` (decoded JSON holds no cycles): a flush's thousands of
    rows add no work for the garbage collector."""

    def __init__(self, numeric: list[str], raw: list[str], score_keys: list[str]) -> None:
        self.numeric, self.raw = numeric, raw  # raw: non-numeric inputs, then learned keys
        # fields f0, f1, ... renamed to the keys: any key works, even one that is no identifier
        fields = [(f"f{i}", float | None | UnsetType, UNSET) for i in range(len(numeric))]
        fields += [(f"f{len(numeric) + i}", Any, UNSET) for i in range(len(raw))]
        rename = {f"f{i}": key for i, key in enumerate([*numeric, *raw])}
        features = msgspec.defstruct("Features", fields, rename=rename, forbid_unknown_fields=True, gc=False)
        # class probabilities as the agent sends them, {class: p}; a list [p0, p1, ...] stays a list
        self.scores = msgspec.defstruct(
            "Scores", [(f"s{i}", Any, UNSET) for i in range(len(score_keys))],
            rename={f"s{i}": key for i, key in enumerate(score_keys)}, gc=False,
        )  # fmt: skip
        self.score_fields = {key: f"s{i}" for i, key in enumerate(score_keys)}
        body = msgspec.defstruct(
            "Body",
            [("features", features), ("prediction", Any, None),
             ("probabilities", self.scores | list | None if score_keys else msgspec.Raw, None)],
            gc=False,
        )  # fmt: skip
        self._one = msgspec.json.Decoder(body).decode
        self._many = msgspec.json.Decoder(list[body]).decode
        # one tuple per row: a row's values are read together, while they are in cache
        self.numeric_values = _fields_getter([f"f{i}" for i in range(len(numeric))])
        self.raw_values = _fields_getter([f"f{len(numeric) + i}" for i in range(len(raw))])
        self.row = _fields_getter([f"f{i}" for i in range(len(numeric) + len(raw))])
        self.score_values = _fields_getter(list(self.score_fields.values()))

    def scores_as_dict(self, scores: Any) -> dict[str, Any]:
        """The {class: p} a Scores struct was decoded from (its classes the profile knows)."""
        values = {key: getattr(scores, field) for key, field in self.score_fields.items()}
        return {key: value for key, value in values.items() if value is not UNSET}

    def decode(self, texts: list[bytes]) -> list[Any]:
        """One Body struct per text, or the orjson payload dict of a text msgspec refuses."""
        bodies: list[Any] = []
        for start in range(0, len(texts), CHUNK):
            chunk = texts[start : start + CHUNK]
            try:
                bodies.extend(self._many(b"[" + b",".join(chunk) + b"]"))
            except (msgspec.DecodeError, RecursionError):
                bodies.extend(map(self._decode_one, chunk))
        return bodies

    def _decode_one(self, text: bytes) -> Any:
        try:
            return self._one(text)
        except (msgspec.DecodeError, RecursionError):
            pass
        try:  # the body check passed it: an object with a features object
            return orjson.loads(text)
        except orjson.JSONDecodeError:  # text msgspec's check took and orjson does not: its reading
            return msgspec.json.decode(text)


@dataclass
class _Read:
    """A flush's values: numeric columns ready, raw columns (non-numeric inputs, learned
    keys, then ``new`` keys first met now) with UNSET for missing keys, and the outputs."""

    numeric: Columns
    raw: list[list[Any]]
    new: list[str]
    predictions: list[Any]
    probabilities: list[Any]


class ColumnBuilder:
    """Knows one profile's columns and builds them from the JSON bodies of a group of rows."""

    def __init__(self, profile: Profile, prediction_column: str, prefix: str) -> None:
        inputs = [f for f in profile.features if f.role == "feature"]
        self.numeric = [f.name for f in inputs if f.numeric is not None]
        self.other = [f.name for f in inputs if f.numeric is None]
        self.inputs = [*self.numeric, *self.other]
        self._input_set = frozenset(self.inputs)
        self.prediction = prediction_column if prediction_column in profile.names else None
        self.scores = {
            f.name: f.name[len(prefix) :]
            for f in profile.features
            if f.role in ("score", "prediction") and f.name.startswith(prefix) and f.name != prediction_column
        }
        self._score_getter = _getter(list(self.scores.values())) if self.scores else None
        self._typed = _TypedBodies(self.numeric, self.other, list(self.scores.values()))

    @property
    def learned(self) -> list[str]:
        """Unexpected keys the typed decoder reads too."""
        return self._typed.raw[len(self.other) :]

    def build(self, texts: list[bytes]) -> Columns:
        typed = self._typed
        bodies = typed.decode(texts)
        payloads = [body for body in bodies if type(body) is dict]  # records off the fast path
        read = self._read_mixed(bodies, payloads) if payloads else self._read_typed(bodies)
        n_other = len(self.other)
        columns: Columns = {}
        for name, values in zip([*typed.raw, *read.new][n_other:], read.raw[n_other:], strict=True):
            if not _all_unset(values):
                columns[name] = _unset_as_none(values)  # unexpected: counted by the engine, by name
        columns.update(read.numeric)
        for name, values in zip(self.other, read.raw[:n_other], strict=True):
            if not _all_unset(values):  # a key no row has: absent, a schema change
                columns[name] = _unset_as_none(values)
        if self.prediction is not None and read.predictions.count(None) != len(read.predictions):
            columns[self.prediction] = read.predictions
        if self.scores:
            columns.update(self._scores(read.probabilities))
        if read.new and len(typed.raw) - n_other < MAX_LEARNED_KEYS:  # read them typed from now on
            self._typed = _TypedBodies(
                self.numeric,
                [*typed.raw, *read.new][: n_other + MAX_LEARNED_KEYS],
                list(self.scores.values()),
            )
        return columns

    def _read_typed(self, bodies: list[Any]) -> _Read:
        """Every row decoded typed: numeric columns straight into numpy, the rest as lists."""
        typed = self._typed
        features = list(map(attrgetter("features"), bodies))
        return _Read(
            _numeric_columns(self.numeric, list(map(typed.numeric_values, features)), typed_values=True),
            _transpose(list(map(typed.raw_values, features)), len(typed.raw)),
            [],
            list(map(attrgetter("prediction"), bodies)),
            list(map(attrgetter("probabilities"), bodies)),
        )

    def _read_mixed(self, bodies: list[Any], payloads: list[dict]) -> _Read:
        """Typed rows and orjson payloads: every row's values as a tuple, in row order."""
        typed = self._typed
        seen: dict[str, None] = {}
        for payload in payloads:
            seen.update(dict.fromkeys(payload["features"]))
        known = frozenset(typed.raw) | self._input_set
        new = [name for name in seen if name not in known]
        names = [*self.numeric, *typed.raw, *new]
        pad = (UNSET,) * len(new)
        rows = [
            typed.row(body.features) + pad if type(body) is not dict
            else tuple(map(body["features"].get, names, (UNSET,) * len(names)))
            for body in bodies
        ]  # fmt: skip
        k = len(self.numeric)
        return _Read(
            _numeric_columns(self.numeric, [row[:k] for row in rows]),
            _transpose([row[k:] for row in rows], len(names) - k),
            new,
            [b.get("prediction") if type(b) is dict else b.prediction for b in bodies],
            [b.get("probabilities") if type(b) is dict else b.probabilities for b in bodies],
        )

    def _scores(self, probabilities: list[Any]) -> dict[str, list]:
        """One column per class; all-struct or all-dict rows (the agent's form) take a C-level path."""
        typed = self._typed
        kinds = set(map(type, probabilities))
        if kinds == {typed.scores}:
            table = list(map(typed.score_values, probabilities))
            return dict(
                zip(self.scores, map(_unset_as_none, _transpose(table, len(self.scores))), strict=True)
            )
        if kinds & {typed.scores}:  # a mixed flush: read each struct as the dict it stands for
            probabilities = [typed.scores_as_dict(p) if type(p) is typed.scores else p for p in probabilities]
        if set(map(type, probabilities)) == {dict}:
            try:
                table = list(map(self._score_getter, probabilities))
            except KeyError:
                pass
            else:
                return dict(zip(self.scores, map(list, zip(*table, strict=True)), strict=True))
        return {name: [_probability(p, key) for p in probabilities] for name, key in self.scores.items()}


def _all_unset(values: list[Any]) -> bool:
    return values.count(UNSET) == len(values)


def _unset_as_none(values: list[Any]) -> list[Any]:
    return [None if v is UNSET else v for v in values] if UNSET in values else values


def _numeric_columns(names: list[str], table: list[tuple], typed_values: bool = False) -> Columns:
    """Float arrays when every value is a number, a null or a missing key (NaN: missing, as
    the engine reads it); raw value lists otherwise, for the engine to classify. A feature
    whose key no row has is left out: the engine counts it as absent (a schema change).

    ``typed_values``: the rows were decoded typed, so a value is a float, None (fromiter
    makes it NaN) or UNSET (fromiter refuses it): all floats and nulls take one numpy call."""
    n = len(table)
    flat = list(chain.from_iterable(table))
    if typed_values and n:
        try:
            matrix = np.fromiter(flat, dtype=np.float64, count=len(flat))
        except TypeError:
            pass
        else:
            return dict(zip(names, matrix.reshape(n, -1).T.copy(), strict=True))
    types = set(map(type, flat))
    if types <= _NUMBER_TYPES | _GAP_TYPES:  # fromiter alone would also take bools and "1.5"
        gaps = UnsetType in types
        values = [np.nan if v is UNSET else v for v in flat] if gaps else flat
        matrix = np.fromiter(values, dtype=np.float64, count=len(flat)).reshape(n, -1)
        columns = dict(zip(names, matrix.T.copy(), strict=True))
        if gaps:
            absent = np.fromiter((v is UNSET for v in flat), dtype=bool, count=len(flat)).reshape(n, -1)
            for j in np.flatnonzero(absent.all(axis=0)).tolist():
                del columns[names[j]]
        return columns
    columns = {}
    for name, values in zip(names, _transpose(table, len(names)), strict=True):
        if not _all_unset(values):
            columns[name] = _unset_as_none(values)  # bools, strings, ...: the engine classifies
    return columns


def slice_columns(columns: Columns, index: np.ndarray) -> Columns:
    """The rows ``index`` of every column (arrays by fancy indexing, lists by position)."""
    positions = index.tolist()
    return {
        name: values[index] if isinstance(values, np.ndarray) else [values[i] for i in positions]
        for name, values in columns.items()
    }
