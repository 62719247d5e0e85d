"""The ASGI middleware's care for the host's garbage collector: start-up objects collected
(and, with MODELTEL_GC_FREEZE, frozen) before serving, nothing per request kept past it."""

import asyncio
import gc
from types import SimpleNamespace

import pytest
from opentelemetry import trace

from modeltel.agent import settings
from modeltel.agent.instrumentation import asgi
from modeltel.agent.request_context import current_request
from modeltel.agent.telemetry import pipeline as pipelines
from modeltel.agent.telemetry.spans import RecordingSpan


@pytest.fixture
def agent_settings():
    saved = settings._current
    yield
    settings._current = saved
    gc.unfreeze()


@pytest.mark.parametrize("freeze", [False, True])
def test_start_up_objects_are_frozen_only_when_opted_in(agent_settings, freeze: bool) -> None:
    gc.unfreeze()
    start_up = [[index] for index in range(1000)]  # tracked containers, as an application's are
    settings._current = settings.AgentSettings(gc_freeze=freeze)
    asgi._freeze_start_up_objects()
    assert (gc.get_freeze_count() >= len(start_up)) is freeze
    assert gc.is_tracked(start_up[0])


class Recorded:
    """What a fake pipeline needs for the middleware to record a request."""

    def __init__(self) -> None:
        self.spans: list = []
        self.trace_bound = 1 << 64
        self.traces_follow_predictions = False
        self.instruments = SimpleNamespace(http_duration=SimpleNamespace(record=lambda *args: None))

    def put_span(self, record) -> None:
        self.spans.append(record)


def serve(app, scope: dict) -> list[tuple[str, object, object]]:
    """Run ``app`` on one request; for each message sent, what was current while sending it."""
    seen = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        seen.append((message["type"], current_request.get(), trace.get_current_span()))

    asyncio.run(app(scope, receive, send))
    return seen


def test_the_last_response_message_is_sent_outside_the_request_context(monkeypatch) -> None:
    """The server arms its keep-alive timer while sending the last message and the timer keeps
    the context current then: it must not hold the request's state and span (they would
    survive into full collections). Code after the response still sees the request."""
    pipeline = Recorded()
    monkeypatch.setattr(pipelines, "_pipeline", pipeline)
    after_response = []

    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})
        after_response.append((current_request.get(), trace.get_current_span()))  # a background task

    scope = {"type": "http", "method": "GET", "path": "/x", "scheme": "http", "headers": []}
    seen = serve(asgi.TelemetryMiddleware(app), scope)
    assert [kind for kind, _, _ in seen] == [
        "http.response.start",
        "http.response.body",
        "http.response.body",
    ]
    (_, state, span), (_, _, streaming_span), (_, last_state, last_span) = seen
    assert state is not None and type(span) is RecordingSpan and streaming_span is span
    assert last_state is None and not last_span.get_span_context().is_valid
    assert after_response == [(state, span)]
    assert current_request.get() is None and len(pipeline.spans) == 1


def test_lifespan_start_up_builds_the_pipeline_and_collects_once(monkeypatch) -> None:
    built = []
    monkeypatch.setattr(
        pipelines, "current", lambda: built.append(gc.get_stats()[2]["collections"]) or Recorded()
    )
    collections_before_app = []

    async def app(scope, receive, send) -> None:
        collections_before_app.append(gc.get_stats()[2]["collections"])

    asyncio.run(asgi.TelemetryMiddleware(app)({"type": "lifespan"}, None, None))
    assert len(built) == 1 and collections_before_app == [built[0] + 1]
