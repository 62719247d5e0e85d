"""Spans recorded by the agent: the OpenTelemetry API's ``Span``, kept as a compact record.

A recording span is only ever made for a sampled trace; an unsampled request gets the API's
``NonRecordingSpan``, which still carries the trace context to children and downstream calls
but costs nothing to end or export.
"""

import random
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

SAMPLED = TraceFlags(TraceFlags.SAMPLED)
UNSAMPLED = TraceFlags(TraceFlags.DEFAULT)
_TRACE_ID_LOW_BITS = (1 << 64) - 1
_NO_TRACE_STATE = TraceState()  # immutable; making a new one per root span was three Python calls


def trace_sampling_bound(rate: float) -> int:
    """The bound ``TraceIdRatioBased`` compares a trace id's low 64 bits with, so a trace is
    kept or dropped alike by every service that samples at the same rate."""
    return round(min(max(rate, 0.0), 1.0) * (1 << 64))


@dataclass(slots=True)
class SpanRecord:
    """An ended span, as the export thread encodes it."""

    trace_id: int
    span_id: int
    parent_span_id: int
    name: str
    kind: int  # OTLP Span.SpanKind: 1 internal, 2 server, 3 client
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int  # OTLP Status.StatusCode: 0 unset, 1 ok, 2 error
    status_message: str
    events: list[tuple[str, int, dict[str, Any]]] | None


_OTLP_KIND = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
_OTLP_STATUS = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}
# The same, keyed by the members' ids: hashing an Enum member is a Python-level call, and
# every span ends with these two lookups.
_OTLP_KIND_BY_ID = {id(kind): value for kind, value in _OTLP_KIND.items()}
_OTLP_STATUS_BY_ID = {id(status): value for status, value in _OTLP_STATUS.items()}


class RecordingSpan(Span):
    """A sampled span that hands itself to ``sink`` (a bounded queue's ``put``) when ended."""

    __slots__ = ("_attributes", "_context", "_ended", "_events", "_kind", "_name", "_parent", "_sink",
                 "_start", "_status", "_status_message", "_trace_state", "span_id", "trace_id")  # fmt: skip

    def __init__(
        self,
        name: str,
        trace_id: int,
        span_id: int,
        trace_state: TraceState,
        parent_span_id: int,
        kind: SpanKind,
        attributes: dict[str, Any],
        sink: Any,
        start_ns: int | None = None,
    ) -> None:
        self._name = name
        # The ids as plain slots, read on every record and exemplar; the API's SpanContext
        # (a tuple subclass built in Python, ~0.5 µs) only when something asks for it.
        self.trace_id, self.span_id = trace_id, span_id
        self._trace_state = trace_state
        self._context: SpanContext | None = None
        self._parent = parent_span_id
        self._kind = kind
        self._attributes = attributes
        self._sink = sink
        self._start = start_ns if start_ns is not None else time.time_ns()
        self._status = StatusCode.UNSET
        self._status_message = ""
        self._events: list[tuple[str, int, dict[str, Any]]] | None = None
        self._ended = False

    def get_span_context(self) -> SpanContext:
        context = self._context
        if context is None:
            context = self._context = SpanContext(
                self.trace_id, self.span_id, False, SAMPLED, self._trace_state
            )
        return context

    def is_recording(self) -> bool:
        return not self._ended

    def set_attribute(self, key: str, value: Any) -> None:
        if not self._ended:
            self._attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if not self._ended:
            self._attributes.update(attributes)

    def add_event(
        self, name: str, attributes: Mapping[str, Any] | None = None, timestamp: int | None = None
    ) -> None:
        if self._ended:
            return
        if self._events is None:
            self._events = []
        self._events.append((name, timestamp or time.time_ns(), dict(attributes or {})))

    def add_link(self, context: SpanContext, attributes: Mapping[str, Any] | None = None) -> None:
        """Links are not kept by agent spans (they have no use on a request span here)."""

    def update_name(self, name: str) -> None:
        if not self._ended:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._ended:
            return
        if isinstance(status, Status):
            status, description = status.status_code, status.description
        if status is StatusCode.UNSET or self._status is StatusCode.OK:
            return  # the specification: OK is final, UNSET never overrides
        self._status = status
        self._status_message = description or "" if status is StatusCode.ERROR else ""

    def record_exception(
        self,
        exception: BaseException,
        attributes: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        stack = "".join(traceback.format_exception(type(exception), exception, exception.__traceback__))
        event = {
            "exception.type": type(exception).__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": stack,
            **(attributes or {}),
        }
        self.add_event("exception", event, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        self._sink(
            SpanRecord(
                self.trace_id,
                self.span_id,
                self._parent,
                self._name,
                _OTLP_KIND_BY_ID.get(id(self._kind), 1),
                self._start,
                end_time or time.time_ns(),
                self._attributes,
                _OTLP_STATUS_BY_ID[id(self._status)],
                self._status_message,
                self._events,
            )
        )


class UnsampledSpan(NonRecordingSpan):
    """The ``NonRecordingSpan`` of a trace sampling dropped, its ``SpanContext`` (a tuple
    subclass built in Python, ~0.5 µs) made only when something asks for it: at 10% sampling
    nine requests in ten get one, and most are never asked (capture skips dropped traces)."""

    def __init__(self, trace_id: int, span_id: int, trace_state: TraceState) -> None:
        self._context: SpanContext | None = None
        self._ids = (trace_id, span_id, trace_state)

    def get_span_context(self) -> SpanContext:
        context = self._context
        if context is None:
            trace_id, span_id, trace_state = self._ids
            context = self._context = SpanContext(trace_id, span_id, False, UNSAMPLED, trace_state)
        return context

    def __repr__(self) -> str:
        return f"NonRecordingSpan({self.get_span_context()!r})"


def start_span(
    name: str,
    parent: SpanContext | None,
    kind: SpanKind,
    attributes: dict[str, Any],
    sink: Any,
    sampling_bound: int,
    start_ns: int | None = None,
) -> Span:
    """A child of ``parent`` (keeping its sampling decision), or a new root sampled by ratio."""
    getrandbits = random.getrandbits
    if parent is not None and parent.is_valid:
        trace_id, parent_id, state = parent.trace_id, parent.span_id, parent.trace_state
        sampled = parent.trace_flags.sampled
    else:
        trace_id, parent_id, state = getrandbits(128) or 1, 0, _NO_TRACE_STATE
        sampled = (trace_id & _TRACE_ID_LOW_BITS) < sampling_bound
    span_id = getrandbits(64) or 1
    if not sampled:
        return UnsampledSpan(trace_id, span_id, state)
    return RecordingSpan(name, trace_id, span_id, state, parent_id, kind, attributes, sink, start_ns)


def start_child_span(
    name: str, parent: RecordingSpan, kind: SpanKind, attributes: dict[str, Any], sink: Any
) -> RecordingSpan:
    """``start_span`` for a parent the agent recorded itself: sampled, its ids read from slots."""
    span_id = random.getrandbits(64) or 1
    return RecordingSpan(
        name, parent.trace_id, span_id, parent._trace_state, parent.span_id, kind, attributes, sink
    )


__all__ = [
    "INVALID_SPAN_CONTEXT",
    "RecordingSpan",
    "SpanRecord",
    "UnsampledSpan",
    "start_child_span",
    "start_span",
    "trace_sampling_bound",
]
