"""Capture core: one model call becomes a span, metrics and a prediction record per row.

Framework hooks call ``observe``; it runs the original method, and only the outermost
observed call records (a Pipeline's ``predict`` calls its final estimator's, a classifier's
``predict`` often calls its own ``predict_proba``). Nothing here raises into the host.
"""

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol

from modeltel.agent.model_call import ModelCall

_log = logging.getLogger("modeltel.agent")
_inside_model_call: ContextVar[bool] = ContextVar("modeltel_inside_model_call", default=False)


class Describe(Protocol):
    def __call__(
        self, model: Any, method: str, args: tuple, kwargs: dict, result: Any
    ) -> ModelCall | None: ...


Listener = Callable[[Any, ModelCall, int], None]
_listeners: list[Listener] = []


def add_listener(listener: Listener) -> None:
    """Also hand each described call ``(model, call, duration_ns)`` to ``listener``."""
    _listeners.append(listener)


def observe(
    model: Any, method: str, function: Callable[..., Any], args: tuple, kwargs: dict, describe: Describe
) -> Any:
    """Run ``function(*args, **kwargs)`` (the original method; ``args[0]`` is the model) and record it."""
    if _inside_model_call.get():
        return function(*args, **kwargs)
    token = _inside_model_call.set(True)
    try:
        from time import perf_counter_ns

        started = perf_counter_ns()
        result = function(*args, **kwargs)
        duration = perf_counter_ns() - started
        try:
            call = describe(model, method, args[1:], kwargs, result)
            if call is not None:
                for listener in _listeners:
                    listener(model, call, duration)
        except Exception:
            _log.exception("modeltel could not record a %s call of %s", method, type(model).__name__)
        return result
    finally:
        _inside_model_call.reset(token)
