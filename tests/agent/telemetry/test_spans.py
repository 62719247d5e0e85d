"""Agent spans keep the API's contract although their SpanContext is built only on demand."""

from opentelemetry import propagate, trace
from opentelemetry.trace import NonRecordingSpan, SpanKind, TraceFlags

from modeltel.agent.telemetry.spans import RecordingSpan, UnsampledSpan, start_child_span, start_span

ALL = 1 << 64


def test_dropped_root_span_is_a_non_recording_span_with_its_own_ids() -> None:
    span = start_span("GET", None, SpanKind.SERVER, {}, lambda record: None, 0)
    assert type(span) is UnsampledSpan and isinstance(span, NonRecordingSpan)
    context = span.get_span_context()
    assert context is span.get_span_context()  # built once
    assert context.is_valid and not context.is_remote and context.trace_flags == TraceFlags.DEFAULT
    assert not span.is_recording()
    carrier: dict[str, str] = {}
    propagate.inject(carrier, trace.set_span_in_context(span))
    assert carrier["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-00"
    assert "NonRecordingSpan(SpanContext(" in repr(span)


def test_sampled_spans_expose_the_ids_of_their_slots_and_keep_the_parent_trace_state() -> None:
    parent = start_span("POST", None, SpanKind.SERVER, {}, lambda record: None, ALL)
    assert type(parent) is RecordingSpan
    child = start_child_span("model.predict", parent, SpanKind.INTERNAL, {}, lambda record: None)
    for span in (parent, child):
        context = span.get_span_context()
        assert (context.trace_id, context.span_id) == (span.trace_id, span.span_id)
        assert context.trace_flags.sampled and context.is_valid
    assert child.trace_id == parent.trace_id and child.span_id != parent.span_id
    assert child.get_span_context().trace_state is parent.get_span_context().trace_state
    # A remote parent's decision and trace state carry over to the agent's span.
    remote = propagate.extract({"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01", "tracestate": "vendor=value"})
    span = start_span("POST", trace.get_current_span(remote).get_span_context(), SpanKind.SERVER, {},
                      lambda record: None, 0)  # fmt: skip
    assert type(span) is RecordingSpan and span.trace_id == int("ab" * 16, 16)
    assert span.get_span_context().trace_state.get("vendor") == "value"
