"""OTLP/gRPC transport on grpc.aio.

Requests arrive as bytes and are parsed here rather than by grpc's deserializer, so a
malformed message gets the ``INVALID_ARGUMENT`` status OTLP specifies (not retryable)
instead of grpc's generic ``UNKNOWN``, and is counted like any other rejected request.
"""

import logging

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from modeltel.collector.component import Backpressure
from modeltel.collector.receivers.otlp.receiver import Acceptor
from modeltel.collector.signals import SIGNAL_TYPES, Signal

_log = logging.getLogger("modeltel.collector")

_SERVICE_NAME = {
    Signal.TRACES: trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name,
    Signal.METRICS: metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name,
    Signal.LOGS: logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name,
}


def unavailable_metadata(message: str, retry_after: float) -> tuple[tuple[str, bytes], ...]:
    """google.rpc.Status with RetryInfo, as the OTLP specification asks for throttling.

    Sent both as the standard ``grpc-status-details-bin`` trailer and as
    ``google.rpc.retryinfo-bin``, which the OpenTelemetry Python SDK's exporter reads.
    """
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(int(retry_after * 1e9))
    info = error_details_pb2.RetryInfo(retry_delay=delay)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message, details=[detail])
    return (
        ("grpc-status-details-bin", status.SerializeToString()),
        ("google.rpc.retryinfo-bin", info.SerializeToString()),
    )


def _export_handler(signal: Signal, acceptor: Acceptor) -> grpc.RpcMethodHandler:
    signal_type = SIGNAL_TYPES[signal]

    async def export(payload: bytes, context: grpc.aio.ServicerContext) -> object:
        try:
            batch = signal_type.request.FromString(payload)
        except DecodeError as error:
            acceptor.reject(signal, grpc.StatusCode.INVALID_ARGUMENT.name)
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"malformed protobuf {signal_type.request.__name__}: {error}",
            )
        try:
            return await acceptor.accept(signal, batch, payload)
        except Backpressure as error:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                str(error),
                trailing_metadata=unavailable_metadata(str(error), error.retry_after),
            )
        except Exception as error:
            _log.exception("pipeline failed on a %s batch", signal.value)
            await context.abort(grpc.StatusCode.INTERNAL, f"pipeline failed: {type(error).__name__}")

    return grpc.unary_unary_rpc_method_handler(
        export, request_deserializer=None, response_serializer=signal_type.response.SerializeToString
    )


class GrpcServer:
    def __init__(self, endpoint: str, max_request_bytes: int, acceptor: Acceptor) -> None:
        self._endpoint = endpoint
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", max_request_bytes),
                ("grpc.so_reuseport", 0),
            ]
        )
        handlers = [
            grpc.method_handlers_generic_handler(
                _SERVICE_NAME[signal], {"Export": _export_handler(signal, acceptor)}
            )
            for signal in Signal
            if acceptor.accepts(signal)
        ]
        self._server.add_generic_rpc_handlers(handlers)

    async def start(self) -> None:
        if self._server.add_insecure_port(self._endpoint) == 0:
            raise OSError(f"OTLP/gRPC receiver could not bind {self._endpoint}")
        await self._server.start()
        _log.info("OTLP/gRPC receiver listening on %s", self._endpoint)

    async def stop(self) -> None:
        await self._server.stop(grace=5)
