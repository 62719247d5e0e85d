"""The three OTLP signals and their protobuf request/response types.

Batches move through pipelines as the OTLP export request messages themselves, so a
record is decoded once, by upb, and nothing is copied between components.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


class Signal(str, Enum):
    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


def count_data_points(request: ExportMetricsServiceRequest) -> int:
    total = 0
    for resource in request.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    total += len(getattr(metric, kind).data_points)
    return total


def count_log_records(request: ExportLogsServiceRequest) -> int:
    return sum(len(scope.log_records) for resource in request.resource_logs for scope in resource.scope_logs)


@dataclass(frozen=True)
class SignalType:
    """What a receiver needs to know to accept one signal."""

    signal: Signal
    request: type[Message]
    response: type[Message]
    http_path: str
    item: str  # what one item is called in logs and metric help
    count_items: Callable[[Message], int]


SIGNAL_TYPES: dict[Signal, SignalType] = {
    Signal.TRACES: SignalType(
        Signal.TRACES,
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
        "/v1/traces",
        "spans",
        count_spans,
    ),
    Signal.METRICS: SignalType(
        Signal.METRICS,
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
        "/v1/metrics",
        "data points",
        count_data_points,
    ),
    Signal.LOGS: SignalType(
        Signal.LOGS,
        ExportLogsServiceRequest,
        ExportLogsServiceResponse,
        "/v1/logs",
        "log records",
        count_log_records,
    ),
}
