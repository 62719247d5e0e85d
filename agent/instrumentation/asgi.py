"""Traces and RED metrics for an ASGI application, lean enough for the request path.

One SERVER span per HTTP request, with the stable HTTP semantic conventions (span name
``{method} {route}``, ``http.request.method``, ``url.path``, ``url.scheme``, ``http.route``,
``http.response.status_code``, ``error.type``), W3C trace context extracted from the request,
and the ``http.server.request.duration`` histogram recorded while the span is current, so
its exemplars carry the trace id. When the request made predictions their ids go back in
the ``x-modeltel-prediction-id`` response header.
"""

import logging
import time
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind, StatusCode

from modeltel.agent import settings
from modeltel.agent.request_context import RequestState, current_request
from modeltel.agent.telemetry import pipeline as pipelines
from modeltel.agent.telemetry.spans import RecordingSpan, start_span, trace_sampling_bound
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
    """Outermost middleware: it sees the status the error middleware sends on a crash."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        pipeline = pipelines.current()
        if pipeline is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope.get("method", "_OTHER")
        method = method if method in _HTTP_METHODS else "_OTHER"
        carrier = _carrier(scope.get("headers") or [])
        parent_context = propagate.extract(carrier) if carrier else None
        parent = trace.get_current_span(parent_context).get_span_context() if parent_context else None
        attributes = {
            "http.request.method": method,
            "url.path": scope.get("path", ""),
            "url.scheme": scope.get("scheme", "http"),
        }
        span = start_span(
            method, parent, SpanKind.SERVER, attributes, pipeline.put_span, pipeline.trace_bound
        )
        state = RequestState()
        if parent is None or not parent.is_valid:
            agent_settings = settings.current()
            if trace_sampling_bound(agent_settings.sample_rate) == pipeline.trace_bound:
                state.trace_kept = span.get_span_context().trace_flags.sampled
        request_token = current_request.set(state)
        context_token = context.attach(trace.set_span_in_context(span, parent_context))
        status = 500
        error_type: str | None = None

        async def send_with_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if state.prediction_ids and settings.current().prediction_id_header:
                    headers = list(message.get("headers") or [])
                    headers.append((_HEADER, ",".join(state.prediction_ids).encode("latin-1")))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        except BaseException as error:
            error_type = type(error).__qualname__
            if isinstance(span, RecordingSpan):
                span.record_exception(error)
            raise
        finally:
            try:
                self._finish(pipeline, span, scope, method, status, error_type, started)
            finally:
                context.detach(context_token)
                current_request.reset(request_token)
                span.end()

    @staticmethod
    def _finish(
        pipeline: Any, span: Any, scope: dict, method: str, status: int, error: str | None, started: float
    ) -> None:
        try:
            route = _route(scope)
            if error is None and status >= 500:
                error = str(status)
            metric = (
                ("http.request.method", method),
                ("url.scheme", scope.get("scheme", "http")),
                ("http.response.status_code", status),
                ("http.route", route),
                ("error.type", error),
            )
            if route is None or error is None:
                metric = tuple(pair for pair in metric if pair[1] is not None)
            span_context = span.get_span_context()
            ids = (
                (span_context.trace_id, span_context.span_id) if span_context.trace_flags.sampled else (0, 0)
            )
            pipeline.instruments.http_duration.record(time.perf_counter() - started, metric, *ids)
            if span.is_recording():
                span.set_attributes(dict(metric))
                if route is not None:
                    span.update_name(f"{method} {route}")
                if error is not None:
                    span.set_status(StatusCode.ERROR)
        except Exception:
            _log.exception("modeltel could not record a request")
