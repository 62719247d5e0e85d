"""XGBoost: its scikit-learn wrappers' predict-like methods and ``Booster.predict`` /
``Booster.inplace_predict``.

The wrappers derive from scikit-learn's ``BaseEstimator`` when scikit-learn is installed
(then the scikit-learn hook has already wrapped them; wrapping is idempotent), from
``object`` otherwise, so they are wrapped here as well. A Booster returns raw outputs:
probabilities or margins depending on its objective and on ``output_margin`` /
``predict_type="margin"``; they are recorded as scores with that objective.
"""

from __future__ import annotations

import contextlib
import json
import logging
import weakref
from types import ModuleType
from typing import Any

from modeltel.agent.frameworks.describe import (
    NOT_PREDICTIONS,
    describe_estimator_call,
    first_argument,
    model_call,
)
from modeltel.agent.frameworks.patching import subclasses, wrap_method, wrap_methods
from modeltel.agent.model_call import ModelCall
from modeltel.agent.model_outputs import from_raw_scores

_log = logging.getLogger("modeltel.agent")
ESTIMATOR_METHODS = ("predict", "predict_proba", "decision_function")
_objectives: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()


def install(module: ModuleType) -> None:
    """``module`` is ``xgboost``."""
    from xgboost import core, sklearn

    for cls in subclasses(sklearn.XGBModel):
        wrap_methods(cls, ESTIMATOR_METHODS, describe_estimator_call)
    wrap_method(core.Booster, "predict", describe_booster_call)
    wrap_method(core.Booster, "inplace_predict", describe_booster_call)


def booster_objective(booster: Any) -> str | None:
    """The objective's name from the booster's configuration, read once per booster."""
    try:
        return _objectives[booster]
    except (KeyError, TypeError):
        pass
    try:
        objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    except Exception:
        objective = None
    with contextlib.suppress(TypeError):  # not weakly referenceable: read it each time
        _objectives[booster] = objective
    return objective


def describe_booster_call(
    booster: Any, method: str, args: tuple, kwargs: dict, result: Any
) -> ModelCall | None:
    try:
        if any(kwargs.get(flag) for flag in NOT_PREDICTIONS) or kwargs.get("predict_type", "value") not in (
            "value",
            "margin",
        ):
            return None
        margin = bool(kwargs.get("output_margin")) or kwargs.get("predict_type") == "margin"
        objective = booster_objective(booster)
        if objective is not None and margin:
            objective = f"{objective} (margin)"
        data = first_argument(args, kwargs, "data")
        return model_call(booster, method, data, from_raw_scores(result), objective)
    except Exception:
        _log.debug("modeltel could not describe Booster.%s", method, exc_info=True)
        return None
