"""LightGBM: its scikit-learn wrappers (``LGBMModel`` and subclasses) and
``lightgbm.basic.Booster.predict``.

As with XGBoost, the wrappers derive from scikit-learn's ``BaseEstimator`` when it is
installed and are wrapped here too otherwise (idempotently). ``Booster.predict`` returns
probabilities for classification objectives, margins with ``raw_score=True``, values for
regression: recorded as scores with the booster's objective.
"""

from __future__ import annotations

import logging
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
ESTIMATOR_METHODS = ("predict", "predict_proba")


def install(module: ModuleType) -> None:
    """``module`` is ``lightgbm``."""
    from lightgbm import basic, sklearn

    for cls in subclasses(sklearn.LGBMModel):
        wrap_methods(cls, ESTIMATOR_METHODS, describe_estimator_call)
    wrap_method(basic.Booster, "predict", describe_booster_call)


def describe_booster_call(
    booster: Any, method: str, args: tuple, kwargs: dict, result: Any
) -> ModelCall | None:
    try:
        if any(kwargs.get(flag) for flag in NOT_PREDICTIONS):
            return None
        params = getattr(booster, "params", None)
        objective = params.get("objective") if isinstance(params, dict) else None
        if not isinstance(objective, str):
            objective = None
        elif kwargs.get("raw_score"):
            objective = f"{objective} (margin)"
        data = first_argument(args, kwargs, "data")
        return model_call(booster, method, data, from_raw_scores(result), objective)
    except Exception:
        _log.debug("modeltel could not describe lightgbm Booster.%s", method, exc_info=True)
        return None
