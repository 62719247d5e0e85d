"""The request-path shortcuts to the OpenTelemetry context agree with the API."""

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from modeltel.agent import trace_context
from modeltel.agent.request_context import RequestState


def _span(span_id: int) -> NonRecordingSpan:
    return NonRecordingSpan(SpanContext(0xABC, span_id, False, TraceFlags(TraceFlags.SAMPLED)))


def test_with_span_attach_and_detach_behave_as_the_api() -> None:
    before = otel_context.get_current()
    span = _span(1)
    built = trace_context.with_span(span)
    assert dict(built) == dict(trace.set_span_in_context(span))
    token = trace_context.attach(built)
    try:
        assert otel_context.get_current() is built and trace.get_current_span() is span
    finally:
        trace_context.detach(token)
    assert otel_context.get_current() is before


def test_current_span_is_the_request_span_until_the_application_starts_its_own() -> None:
    request = RequestState()
    request.span = _span(2)
    request.context = trace_context.with_span(request.span)
    outer = trace_context.attach(request.context)
    try:
        assert trace_context.current_span(request) is request.span
        own = _span(3)
        inner = otel_context.attach(trace.set_span_in_context(own))  # the application's span
        try:
            assert trace_context.current_span(request) is own
        finally:
            otel_context.detach(inner)
        assert trace_context.current_span(request) is request.span
    finally:
        trace_context.detach(outer)
    assert trace_context.current_span(request) is trace.get_current_span()  # no longer current
    assert trace_context.current_span(None) is trace.get_current_span()


def test_detaching_a_foreign_token_does_not_raise() -> None:
    import contextvars

    token = contextvars.copy_context().run(trace_context.attach, trace_context.with_span(_span(4)))
    trace_context.detach(token)  # logged by the API, never raised
