"""The OTLP receiver: gRPC and HTTP transports for traces, metrics and logs."""

from modeltel.collector.receivers.otlp.receiver import FACTORY, OtlpReceiver, OtlpReceiverConfig

__all__ = ["FACTORY", "OtlpReceiver", "OtlpReceiverConfig"]
