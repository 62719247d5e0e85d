import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from modeltel.collector import otlp_json

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


def test_round_trip_keeps_hex_ids_and_camel_case() -> None:
    span = Span(
        trace_id=bytes.fromhex(TRACE_ID),
        span_id=bytes.fromhex(SPAN_ID),
        parent_span_id=bytes.fromhex("00f067aa0ba902b7"),
        name="predict",
        links=[Span.Link(trace_id=bytes.fromhex(TRACE_ID), span_id=bytes.fromhex(SPAN_ID))],
    )
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    )
    text = otlp_json.dumps(request)
    assert f'"traceId":"{TRACE_ID}"' in text and '"parentSpanId":"00f067aa0ba902b7"' in text
    assert otlp_json.parse(text.encode(), ExportTraceServiceRequest) == request


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "abc"}]}]}]}', "hex-encoded"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "abcd"}]}]}]}', "8 bytes"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": ["x"]}]}]}]}', "invalid OTLP/JSON"),
        (b"null", "must be an object"),
        (b"\xff", "invalid JSON"),
    ],
)
def test_errors_say_what_is_wrong(document: bytes, message: str) -> None:
    with pytest.raises(otlp_json.OtlpJsonError, match=message):
        otlp_json.parse(document, ExportTraceServiceRequest)


def test_unknown_fields_enum_names_and_empty_ids_are_accepted() -> None:
    """Forward compatibility, as the OTLP specification asks of receivers."""
    span = b'{"name": "x", "spanId": "", "future": 1, "kind": "NEW"}'
    document = b'{"resourceSpans": [{"scopeSpans": [{"spans": [' + span + b"]}]}]}"
    request = otlp_json.parse(document, ExportTraceServiceRequest)
    assert request.resource_spans[0].scope_spans[0].spans[0].name == "x"
