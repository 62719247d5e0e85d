"""scikit-learn: ``predict``, ``predict_proba`` and ``decision_function`` of every estimator.

Installed when ``sklearn.base`` is imported, before any estimator module: a chained
``BaseEstimator.__init_subclass__`` wraps the methods each new subclass defines in its own
namespace as the class is created (scikit-learn's own hook, which sets up metadata
routing, runs first), and a walk over existing subclasses covers classes created before
the hook (when modeltel is activated late). The XGBoost and LightGBM scikit-learn wrappers
derive from ``BaseEstimator`` and are covered the same way.

Predictions scikit-learn makes for itself are not captured: inside ``fit``-like methods and
``score``, and inside the jobs it runs through ``sklearn.utils.parallel`` (a forest's trees
in joblib threads, cross-validation folds, in threads or worker processes alike).
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

from modeltel.agent.frameworks.describe import describe_estimator_call
from modeltel.agent.frameworks.patching import subclasses, wrap_method, wrap_methods
from modeltel.agent.import_hooks import when_imported

_log = logging.getLogger("modeltel.agent")
METHODS = ("predict", "predict_proba", "decision_function")
TRAINING_METHODS = ("fit", "partial_fit", "fit_predict", "fit_transform", "score")
_MARK = "_modeltel_subclass_hook"


def wrap_estimator_class(cls: type) -> None:
    wrap_methods(cls, METHODS, describe_estimator_call)
    wrap_methods(cls, TRAINING_METHODS, None)


def install(module: ModuleType) -> None:
    """``module`` is ``sklearn.base``."""
    base = module.BaseEstimator
    if not base.__dict__.get(_MARK, False):
        _chain_init_subclass(base)
    for cls in subclasses(base):
        wrap_estimator_class(cls)
    when_imported("sklearn.utils.parallel", _quiet_parallel_jobs)


def _quiet_parallel_jobs(module: ModuleType) -> None:
    """Jobs run by scikit-learn's ``delayed`` call into ``_FuncWrapper.__call__`` in the worker."""
    wrapper = getattr(module, "_FuncWrapper", None)
    if wrapper is not None:
        wrap_method(wrapper, "__call__", None)


def _chain_init_subclass(base: type) -> None:
    own = base.__dict__.get("__init_subclass__")  # None: inherited (``_MetadataRequester``'s)

    def __init_subclass__(cls: type, **kwargs: Any) -> None:
        if own is not None:
            own.__get__(None, cls)(**kwargs)
        else:
            super(base, cls).__init_subclass__(**kwargs)
        try:
            wrap_estimator_class(cls)
        except Exception:  # never stop a class from being created
            _log.debug("modeltel could not wrap %s", cls.__qualname__, exc_info=True)

    base.__init_subclass__ = classmethod(__init_subclass__)
    setattr(base, _MARK, True)
