"""FastAPI: traces, RED metrics and request context, with no change to the application.

``fastapi.FastAPI`` is replaced, right after ``fastapi`` is imported, by a subclass whose
middleware stack is wrapped in ``TelemetryMiddleware``, so an application written as
``from fastapi import FastAPI`` needs no change. The endpoint runner is wrapped to note the
request's validated pydantic body models, which name the columns of an unnamed feature row.
FastAPI's own OpenTelemetry support (0.16x) is switched off in favour of the agent's, so a
request never gets two server spans.
"""

import inspect
import logging
from types import ModuleType
from typing import Any

from modeltel.agent.request_context import current_request

_log = logging.getLogger("modeltel.agent")
_NATIVE_TELEMETRY_OFF = {"tracing": False, "metrics": False, "logs": False}


def install(fastapi_module: ModuleType) -> None:
    original = fastapi_module.FastAPI
    if getattr(original, "_modeltel_instrumented", False):
        return
    native_telemetry = "telemetry" in inspect.signature(original.__init__).parameters

    class FastAPI(original):  # type: ignore[misc, valid-type]
        _modeltel_instrumented = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if native_telemetry:
                kwargs["telemetry"] = {**(kwargs.get("telemetry") or {}), **_NATIVE_TELEMETRY_OFF}
            super().__init__(*args, **kwargs)

        def build_middleware_stack(self) -> Any:
            stack = super().build_middleware_stack()
            try:
                from modeltel.agent.instrumentation.asgi import TelemetryMiddleware

                return TelemetryMiddleware(stack)
            except Exception:
                _log.exception("modeltel could not instrument this FastAPI app; it runs uninstrumented")
                return stack

    FastAPI.__name__ = FastAPI.__qualname__ = original.__name__
    FastAPI.__module__ = original.__module__
    FastAPI.__doc__ = original.__doc__
    fastapi_module.FastAPI = FastAPI
    _wrap_endpoint_runner()


def _wrap_endpoint_runner() -> None:
    import fastapi.routing

    original = getattr(fastapi.routing, "run_endpoint_function", None)
    if original is None or getattr(original, "_modeltel_wrapped", False):
        return

    # A plain function returning FastAPI's coroutine, not a coroutine of its own: an extra
    # coroutine layer would be resumed at every await of the endpoint (threadpool hops).
    def run_endpoint_function(*, dependant: Any, values: dict[str, Any], is_coroutine: bool) -> Any:
        state = current_request.get()
        if state is not None:
            try:
                for value in values.values():
                    if hasattr(type(value), "__pydantic_fields__"):  # a pydantic v2 model
                        state.body_models.append(value)
            except Exception:
                _log.debug("modeltel could not read the request models", exc_info=True)
        return original(dependant=dependant, values=values, is_coroutine=is_coroutine)

    run_endpoint_function._modeltel_wrapped = True  # type: ignore[attr-defined]
    fastapi.routing.run_endpoint_function = run_endpoint_function
