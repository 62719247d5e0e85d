"""Per-request state the FastAPI instrumentation shares with model-call capture.

A context variable, so it follows the request into FastAPI's threadpool (``run_in_threadpool``
copies the context) and into tasks, and never leaks between concurrent requests.
"""

from contextvars import ContextVar
from typing import Any


class RequestState:
    """What capture needs from the request: its validated body models, and what it adds to
    the response: the ids of the predictions made while serving it. A plain slotted class:
    one is made per request, on the serving hot path."""

    __slots__ = ("body_models", "context", "prediction_ids", "span", "trace_kept")

    def __init__(
        self,
        body_models: list[Any] | None = None,
        prediction_ids: list[str] | None = None,
        trace_kept: bool | None = None,
    ) -> None:
        self.body_models: list[Any] = [] if body_models is None else body_models
        self.prediction_ids: list[str] = [] if prediction_ids is None else prediction_ids
        # Whether the trace of this request, started here at the prediction sample rate, is
        # kept; None when the decision came from upstream or used another rate.
        self.trace_kept = trace_kept
        # The request's span and the OpenTelemetry context it was attached in: while that
        # context is still the current one, capture knows the current span without a lookup.
        self.span: Any = None
        self.context: Any = None


current_request: ContextVar[RequestState | None] = ContextVar("modeltel_request", default=None)


def request_feature_names(width: int) -> list[str] | None:
    """Field names of the request's pydantic body model when it has exactly ``width`` fields.

    A handler that builds ``[[body.a, body.b, ...]]`` from its request model passes the
    model an unnamed row; the request model is where those columns got their names.
    """
    state = current_request.get()
    if state is None:
        return None
    for body in state.body_models:
        fields = getattr(type(body), "__pydantic_fields__", None)
        if fields is not None and len(fields) == width:
            return list(fields)
    return None
