"""ONNX Runtime: ``InferenceSession.run``.

Inputs: a single 2-D ``[N, F]`` tensor gives F columns (named by ``register_model(...,
feature_names=...)``, a one-row request's body model, or ``f0..``); several inputs, as
skl2onnx makes for a DataFrame, give one column per input named after it (an input of k
columns gives ``<name>_0 .. <name>_<k-1>``). Outputs: skl2onnx's classifier outputs when
present (``output_label``/``label``, and ``output_probability``/``probabilities`` as
ZipMap dicts or a tensor, whose columns are then named by class index), else
the first output, one value (or list) per row.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import numpy as np

from modeltel.agent.frameworks.describe import model_call
from modeltel.agent.frameworks.patching import wrap_method
from modeltel.agent.model_call import ModelCall
from modeltel.agent.model_outputs import ClassProbabilities, Outputs, StringKeyedRows, per_row

_log = logging.getLogger("modeltel.agent")
# skl2onnx's classifier outputs: with its ZipMap (the default), and with zipmap=False.
LABEL_OUTPUTS = ("output_label", "label")
PROBABILITY_OUTPUTS = ("output_probability", "probabilities")


def install(module: ModuleType) -> None:
    """``module`` is ``onnxruntime``; ``run`` is inherited from ``Session``, wrapped onto
    ``InferenceSession`` only."""
    from onnxruntime.capi.onnxruntime_inference_collection import InferenceSession

    wrap_method(InferenceSession, "run", describe_run, inherited=True)


def _output_names(session: Any, requested: Any) -> list[str]:
    if requested:
        return list(requested)
    return [o.name for o in session.get_outputs()]


def feed_rows(feed: dict[str, Any]) -> tuple[Any, list[str] | None] | None:
    """The input feed as one 2-D array, with column names when it had several inputs."""
    arrays = [np.asarray(v) for v in feed.values()]
    if any(a.ndim == 0 or a.ndim > 2 for a in arrays):
        return None
    if len(arrays) == 1:
        return arrays[0], None
    rows = arrays[0].shape[0]
    if any(a.shape[0] != rows for a in arrays):
        return None
    columns = [a.reshape(rows, -1) for a in arrays]
    names: list[str] = []
    for name, column in zip(feed, columns, strict=True):
        width = column.shape[1]
        names.extend([str(name)] if width == 1 else [f"{name}_{j}" for j in range(width)])
    if len({c.dtype.kind for c in columns}) > 1 or any(c.dtype.kind not in "biuf" for c in columns):
        columns = [c.astype(object) for c in columns]  # keep numbers numbers next to strings
    return np.concatenate(columns, axis=1), names


def describe_outputs(names: list[str], results: list[Any]) -> Outputs | None:
    by_name = dict(zip(names, results, strict=False))
    probabilities = None
    probability_name = next((n for n in PROBABILITY_OUTPUTS if n in by_name), None)
    label_name = next((n for n in LABEL_OUTPUTS if n in by_name), None)
    if probability_name is not None and label_name is not None:
        value = by_name[probability_name]
        if isinstance(value, list) and (not value or isinstance(value[0], dict)):  # ZipMap
            probabilities = StringKeyedRows(value)
        else:
            matrix = np.asarray(value)
            if matrix.ndim == 2:
                probabilities = ClassProbabilities(matrix, [str(i) for i in range(matrix.shape[1])])
    if label_name is not None:
        labels = per_row(by_name[label_name])
        if labels is not None:
            if probabilities is not None and len(probabilities) != len(labels):
                probabilities = None
            return Outputs(labels, probabilities)
    if not results:
        return None
    first = results[0]
    values = [dict(row) for row in first] if isinstance(first, list) else per_row(first)
    return None if values is None else Outputs(values)


def describe_run(session: Any, method: str, args: tuple, kwargs: dict, result: Any) -> ModelCall | None:
    try:
        requested = args[0] if args else kwargs.get("output_names")
        feed = args[1] if len(args) > 1 else kwargs.get("input_feed")
        if not isinstance(feed, dict) or not feed or not isinstance(result, list):
            return None
        outputs = describe_outputs(_output_names(session, requested), result)
        rows = feed_rows(feed)
        if rows is None:
            return None
        data, names = rows
        return model_call(session, method, data, outputs, column_names=names)
    except Exception:
        _log.debug("modeltel could not describe InferenceSession.run", exc_info=True)
        return None
