"""Traces and RED metrics for an ASGI application, lean enough for the request path.

One SERVER span per HTTP request, with the stable HTTP semantic conventions (span name
``{method} {route}``, ``http.request.method``, ``url.path``, ``url.scheme``, ``http.route``,
``http.response.status_code``, ``error.type``), W3C trace context extracted from the request,
and the ``http.server.request.duration`` histogram recorded while the span is current, so
its exemplars carry the trace id. When the request made predictions their ids go back in
the ``x-modeltel-prediction-id`` response header.
"""

import gc
import logging
import time
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, StatusCode

from modeltel.agent import settings, trace_context
from modeltel.agent.request_context import RequestState, current_request
from modeltel.agent.telemetry import pipeline as pipelines
from modeltel.agent.telemetry.spans import RecordingSpan, start_span
from modeltel.semconv import PREDICTION_ID_HEADER

_log = logging.getLogger("modeltel.agent")
_PROPAGATION_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
_HEADER = PREDICTION_ID_HEADER.encode("latin-1")
_HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)


def _carrier(headers: list[tuple[bytes, bytes]]) -> dict[str, str] | None:
    """Only the propagation headers, and only when there are any (most requests: none)."""
    carrier = None
    for name, value in headers:
        if name in _PROPAGATION_HEADERS:
            if carrier is None:
                carrier = {}
            carrier[name.decode("latin-1")] = value.decode("latin-1")
    return carrier


def _route(scope: dict[str, Any]) -> str | None:
    route = scope.get("route")
    return getattr(route, "path", None) if route is not None else None


class TelemetryMiddleware:
    """Outermost middleware: it sees the status the error middleware sends on a crash.

    Every request passes here, sampled or not, so the path is kept short: the metric
    attributes of each (method, scheme, status, route, error) are built once and reused, and
    an unsampled request gets a ``NonRecordingSpan`` and no attributes at all.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._metric_attributes: dict[tuple, tuple[tuple[str, Any], ...]] = {}
        self._first_request = True

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                _prepare_process()
            await self.app(scope, receive, send)
            return
        pipeline = pipelines._pipeline or pipelines.current()
        if pipeline is None:
            await self.app(scope, receive, send)
            return
        if self._first_request:
            self._first_request = False
            _freeze_start_up_objects()
        started = time.perf_counter()
        method = scope.get("method", "_OTHER")
        if method not in _HTTP_METHODS:
            method = "_OTHER"
        headers = scope.get("headers")
        carrier = _carrier(headers) if headers else None
        parent_context = propagate.extract(carrier) if carrier else None
        parent = trace.get_current_span(parent_context).get_span_context() if parent_context else None
        span = start_span(method, parent, SpanKind.SERVER, {}, pipeline.put_span, pipeline.trace_bound)
        recording = type(span) is RecordingSpan
        if recording:  # an unsampled request's span keeps no attributes: not even built
            span.set_attributes(
                {
                    "http.request.method": method,
                    "url.path": scope.get("path", ""),
                    "url.scheme": scope.get("scheme", "http"),
                }
            )
        state = RequestState()
        if pipeline.traces_follow_predictions and (parent is None or not parent.is_valid):
            state.trace_kept = recording
        state.span = span
        state.context = trace_context.with_span(span, parent_context)
        outer_context, outer_request = trace_context.current(), current_request.get()
        request_token = current_request.set(state)
        context_token = trace_context.attach(state.context)
        status = 500
        error_type: str | None = None

        async def send_with_status(message: dict[str, Any]) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                if state.prediction_ids and settings.current().prediction_id_header:
                    headers = list(message.get("headers") or [])
                    headers.append((_HEADER, ",".join(state.prediction_ids).encode("latin-1")))
                    message = {**message, "headers": headers}
            elif kind == "http.response.body" and not message.get("more_body", False):
                # The server arms its keep-alive timer while sending the last message (uvicorn:
                # call_later), and the timer keeps a copy of the current context for seconds.
                # Under the request's context that copy would hold its span, state and body
                # models through collections, enough of them to trigger a full one every few
                # seconds (100+ ms with a loaded model). Restored after, for background tasks.
                request_token = current_request.set(outer_request)
                context_token = trace_context.attach(outer_context)
                try:
                    await send(message)
                finally:
                    trace_context.detach(context_token)
                    current_request.reset(request_token)
                return
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        except BaseException as error:
            error_type = type(error).__qualname__
            if type(span) is RecordingSpan:
                span.record_exception(error)
            raise
        finally:
            try:
                self._finish(pipeline, span, scope, method, status, error_type, started)
            finally:
                trace_context.detach(context_token)
                current_request.reset(request_token)
                span.end()

    def _finish(
        self, pipeline: Any, span: Any, scope: dict, method: str, status: int, error: str | None, start: float
    ) -> None:
        try:
            route = _route(scope)
            if error is None and status >= 500:
                error = str(status)
            scheme = scope.get("scheme", "http")
            key = (method, scheme, status, route, error)
            metric = self._metric_attributes.get(key)
            if metric is None:
                metric = _metric_attributes(method, scheme, status, route, error)
                if len(self._metric_attributes) < _MAX_METRIC_KEYS:  # routes and statuses are few
                    self._metric_attributes[key] = metric
            if type(span) is RecordingSpan:
                pipeline.instruments.http_duration.record(
                    time.perf_counter() - start, metric, span.trace_id, span.span_id
                )
                span.set_attributes(dict(metric))
                if route is not None:
                    span.update_name(f"{method} {route}")
                if error is not None:
                    span.set_status(StatusCode.ERROR)
            else:
                pipeline.instruments.http_duration.record(time.perf_counter() - start, metric)
        except Exception:
            _log.exception("modeltel could not record a request")


_MAX_METRIC_KEYS = 4096


def _prepare_process() -> None:
    """At the server's start-up in each worker (the ASGI lifespan, before any request):
    build the agent's pipeline, then run one full collection.

    Built at the first request instead, the pipeline and the SDK modules it imports (about
    10,000 objects) reach the oldest generation while the server is under load, and being
    more than a quarter of what the last full collection left, they trigger the next one
    there: one 100-130 ms pause in the first seconds of traffic, measured with the example
    model. Collected here, at start-up, the pause is paid before serving instead, and the
    host's own start-up garbage goes with it."""
    try:
        if pipelines.current() is not None:
            gc.collect()
    except Exception:
        _log.exception("modeltel could not prepare this process")


def _freeze_start_up_objects() -> None:
    """With ``MODELTEL_GC_FREEZE`` on: at the first request the application has loaded (its
    model, its imports), so what exists now lives as long as the process. Frozen, those
    objects are no longer walked by every full collection (128-252 ms here for ~177,000
    objects). Each process does it at its own first request, so a forked worker freezes
    what it holds, not only what the master held."""
    try:
        if settings.current().gc_freeze:
            gc.collect()
            gc.freeze()
    except Exception:
        _log.exception("modeltel could not freeze the start-up objects")


def _metric_attributes(
    method: str, scheme: str, status: int, route: str | None, error: str | None
) -> tuple[tuple[str, Any], ...]:
    metric = (
        ("http.request.method", method),
        ("url.scheme", scheme),
        ("http.response.status_code", status),
        ("http.route", route),
        ("error.type", error),
    )
    return tuple(pair for pair in metric if pair[1] is not None)
