"""The OpenTelemetry context on the request path, read and set with as few Python calls as it allows.

Every request attaches its span and every model call asks for the current one. Through the
API that is a chain of Python functions (``get_current_span`` → ``get_value`` →
``get_current`` → the runtime context's ``get_current``; ``attach`` → the runtime's
``attach``), about half a microsecond each here. The SDK's default runtime context is one
``ContextVar``; when that is what the installed API uses, this module reads and sets that
variable directly (one C call each), which is exactly what the API's functions end up
doing. With any other runtime context (a custom ``OTEL_PYTHON_CONTEXT``, a future API) it
falls back to the API's functions, so behaviour never depends on the shortcut.
"""

from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.trace import Span


def _runtime_variable() -> ContextVar | None:
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    if type(runtime).__name__ != "ContextVarsRuntimeContext":
        return None
    variable = getattr(runtime, "_current_context", None)
    return variable if isinstance(variable, ContextVar) else None


_variable = _runtime_variable()
_span_key = getattr(otel_trace.propagation, "_SPAN_KEY", None)
_direct = _variable is not None and isinstance(_span_key, str)

current: Callable[[], Context] = _variable.get if _direct else otel_context.get_current
attach: Callable[[Context], Token] = _variable.set if _direct else otel_context.attach


def detach(token: Token) -> None:
    """Never raises (as the API's ``detach``): a token from another context is only logged."""
    if _direct:
        try:
            _variable.reset(token)
            return
        except (ValueError, RuntimeError):
            pass  # the API logs it
    otel_context.detach(token)


def with_span(span: Span, context: Context | None = None) -> Context:
    """``context`` (default: the current one) with ``span`` as its current span, as
    ``trace.set_span_in_context`` builds it."""
    if _direct:
        return Context({**(context if context is not None else _variable.get()), _span_key: span})
    return otel_trace.set_span_in_context(span, context)


def current_span(request: Any) -> Span:
    """The current span. ``request`` is the ``RequestState`` of the request being served (or
    None): while the context its span was attached in is still current, that is the span,
    and no lookup is needed; a span the application started since is found the usual way."""
    if request is not None and current() is request.context:
        return request.span
    return otel_trace.get_current_span()


__all__ = ["attach", "current", "current_span", "detach", "with_span"]
