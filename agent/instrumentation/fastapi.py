"""FastAPI: traces and RED metrics through opentelemetry-instrumentation-fastapi.

``fastapi.FastAPI`` is replaced, right after ``fastapi`` is imported, by a subclass whose
instances are instrumented with the public ``FastAPIInstrumentor.instrument_app``, so an
application written as ``from fastapi import FastAPI`` needs no change. The subclass also
defers provider creation to the first ASGI call, which happens in the serving process.
"""

import logging
from types import ModuleType
from typing import Any

from modeltel.agent import runtime

_log = logging.getLogger("modeltel.agent")

# The ASGI receive/send spans double the span count per request and say nothing a
# model owner needs; the request span and its children are kept.
EXCLUDED_SPANS = ["receive", "send"]


def install(fastapi_module: ModuleType) -> None:
    original = fastapi_module.FastAPI
    if getattr(original, "_modeltel_instrumented", False):
        return

    class FastAPI(original):  # type: ignore[misc, valid-type]
        _modeltel_instrumented = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            try:
                instrument_app(self)
            except Exception:
                _log.exception("modeltel could not instrument this FastAPI app; it runs uninstrumented")

    FastAPI.__name__ = FastAPI.__qualname__ = original.__name__
    FastAPI.__module__ = original.__module__
    FastAPI.__doc__ = original.__doc__
    fastapi_module.FastAPI = FastAPI


def instrument_app(app: Any) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, exclude_spans=EXCLUDED_SPANS)
    build_instrumented_stack = app.build_middleware_stack

    def build_middleware_stack() -> Any:
        # Starlette builds the stack on the first ASGI call (lifespan or request) in each
        # serving process: the place to create providers, once.
        runtime.ensure_providers()
        return build_instrumented_stack()

    app.build_middleware_stack = build_middleware_stack
