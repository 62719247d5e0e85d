"""Describe functions shared by the framework hooks: rows in, one output per row out.

``capture.observe`` calls them after the original method returned; they never raise (an
input they cannot make sense of gives ``None``, logged at debug level, and the call is
simply not recorded).
"""

from __future__ import annotations

import logging
from typing import Any

from modeltel.agent import capture
from modeltel.agent.model_call import ModelCall
from modeltel.agent.model_inputs import describe_rows
from modeltel.agent.model_outputs import Outputs, describe_outputs, from_raw_scores

_log = logging.getLogger("modeltel.agent")

# Calls whose results are not predictions: leaf indices, feature contributions.
NOT_PREDICTIONS = ("pred_leaf", "pred_contrib", "pred_contribs", "pred_interactions")


def first_argument(args: tuple, kwargs: dict, *names: str) -> Any:
    if args:
        return args[0]
    for name in names:
        if name in kwargs:
            return kwargs[name]
    return None


def model_call(
    model: Any,
    method: str,
    data: Any,
    outputs: Outputs | None,
    objective: str | None = None,
    *,
    column_names: list[str] | None = None,
) -> ModelCall | None:
    """Pair the rows of ``data`` with ``outputs``; None unless both make sense together."""
    if outputs is None:
        _log.debug("modeltel: %s of %s returned nothing per row", method, type(model).__name__)
        return None
    if capture.call_mode.get() == capture.OUTPUTS_ONLY:  # no row will be recorded
        predictions = outputs.predictions
        return ModelCall(method, [], None, len(predictions), predictions, outputs.probabilities,
                         outputs.scores, objective)  # fmt: skip
    inputs = describe_rows(model, data, outputs=len(outputs.predictions), column_names=column_names)
    if inputs is None or inputs.rows != len(outputs.predictions):
        _log.debug(
            "modeltel: cannot pair the input rows of %s.%s with its outputs", type(model).__name__, method
        )
        return None
    return ModelCall(
        method=method,
        feature_names=inputs.names,
        features=inputs.features,
        rows=inputs.rows,
        predictions=outputs.predictions,
        probabilities=outputs.probabilities,
        scores=outputs.scores,
        objective=objective,
    )


def describe_estimator_call(
    model: Any, method: str, args: tuple, kwargs: dict, result: Any
) -> ModelCall | None:
    """scikit-learn-style ``predict(X)``, ``predict_proba(X)``, ``decision_function(X)``,
    including the XGBoost and LightGBM scikit-learn wrappers."""
    try:
        if not kwargs:  # ``predict(X)``, the serving case
            data = args[0] if args else None
            return model_call(model, method, data, describe_outputs(model, method, result))
        data = first_argument(args, kwargs, "X")
        if any(kwargs.get(flag) for flag in NOT_PREDICTIONS):
            return None
        if kwargs.get("output_margin") or kwargs.get("raw_score"):  # XGBoost / LightGBM margins
            return model_call(
                model, method, data, from_raw_scores(result), objective_of_estimator(model, True)
            )
        return model_call(model, method, data, describe_outputs(model, method, result))
    except Exception:
        _log.debug("modeltel could not describe %s.%s", type(model).__name__, method, exc_info=True)
        return None


def objective_of_estimator(model: Any, margin: bool) -> str | None:
    objective = getattr(model, "objective_", None) or getattr(model, "objective", None)
    if not isinstance(objective, str):
        return None
    return f"{objective} (margin)" if margin else objective
