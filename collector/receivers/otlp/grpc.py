"""OTLP/gRPC transport on grpc.aio."""

import logging

import grpc
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from modeltel.collector.receivers.otlp.receiver import Acceptor
from modeltel.collector.signals import SIGNAL_TYPES, Signal

_log = logging.getLogger("modeltel.collector")

_ADD_SERVICER = {
    Signal.TRACES: trace_service_pb2_grpc.add_TraceServiceServicer_to_server,
    Signal.METRICS: metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server,
    Signal.LOGS: logs_service_pb2_grpc.add_LogsServiceServicer_to_server,
}


class _ExportServicer:
    """The one ``Export`` method each OTLP gRPC service has."""

    def __init__(self, signal: Signal, acceptor: Acceptor) -> None:
        self._signal = signal
        self._acceptor = acceptor
        self._response = SIGNAL_TYPES[signal].response

    async def Export(self, request: Message, context: grpc.aio.ServicerContext) -> Message:  # noqa: N802
        try:
            await self._acceptor.accept(self._signal, request)
        except Exception as error:
            _log.exception("pipeline failed on a %s batch", self._signal.value)
            await context.abort(grpc.StatusCode.INTERNAL, f"pipeline failed: {type(error).__name__}")
        return self._response()


class GrpcServer:
    def __init__(self, endpoint: str, max_request_bytes: int, acceptor: Acceptor) -> None:
        self._endpoint = endpoint
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", max_request_bytes),
                ("grpc.so_reuseport", 0),
            ]
        )
        for signal, add_servicer in _ADD_SERVICER.items():
            if acceptor.accepts(signal):
                add_servicer(_ExportServicer(signal, acceptor), self._server)

    async def start(self) -> None:
        if self._server.add_insecure_port(self._endpoint) == 0:
            raise OSError(f"OTLP/gRPC receiver could not bind {self._endpoint}")
        await self._server.start()
        _log.info("OTLP/gRPC receiver listening on %s", self._endpoint)

    async def stop(self) -> None:
        await self._server.stop(grace=5)
