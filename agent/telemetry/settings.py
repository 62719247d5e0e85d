"""Export settings from the standard ``OTEL_*`` variables, with modeltel's sidecar defaults."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote

Signal = Literal["traces", "metrics", "logs"]

DEFAULT_HTTP_ENDPOINT = "http://127.0.0.1:4318"
DEFAULT_GRPC_ENDPOINT = "http://127.0.0.1:4317"
PROTOCOLS = ("http/protobuf", "grpc")


def _first(environ: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = environ.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def _float(environ: Mapping[str, str], default: float, *names: str) -> float:
    raw = _first(environ, *names)
    try:
        return float(raw) if raw is not None else default
    except ValueError:
        return default


def parse_headers(raw: str | None) -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_HEADERS``: ``key=value`` pairs, comma-separated, URL-encoded."""
    headers: dict[str, str] = {}
    for pair in (raw or "").split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


@dataclass(frozen=True)
class SignalExport:
    """Where and how one signal is sent; ``url`` is complete (HTTP path or gRPC target)."""

    signal: Signal
    enabled: bool
    protocol: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    gzip: bool = False


def signal_export(signal: Signal, environ: Mapping[str, str] = os.environ) -> SignalExport:
    upper = signal.upper()
    exporters = (environ.get(f"OTEL_{upper}_EXPORTER") or "otlp").replace(" ", "").split(",")
    enabled = "otlp" in exporters and environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"
    protocol = _first(environ, f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol not in PROTOCOLS:
        protocol = "http/protobuf"  # http/json has no Python SDK exporter either
    specific = _first(environ, f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT")
    general = _first(environ, "OTEL_EXPORTER_OTLP_ENDPOINT")
    if protocol == "grpc":
        url = specific or general or DEFAULT_GRPC_ENDPOINT
    elif specific:
        url = specific  # a signal-specific endpoint is used as is, per the specification
    else:
        url = f"{(general or DEFAULT_HTTP_ENDPOINT).rstrip('/')}/v1/{signal}"
    headers = parse_headers(environ.get("OTEL_EXPORTER_OTLP_HEADERS"))
    headers.update(parse_headers(environ.get(f"OTEL_EXPORTER_OTLP_{upper}_HEADERS")))
    timeout = _float(environ, 10.0, f"OTEL_EXPORTER_OTLP_{upper}_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
    if timeout > 1000:  # older SDKs documented milliseconds
        timeout /= 1000.0
    compression = _first(environ, f"OTEL_EXPORTER_OTLP_{upper}_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")
    return SignalExport(signal, enabled, protocol, url, headers, timeout, compression == "gzip")


@dataclass(frozen=True)
class QueueSettings:
    """Bounds of the agent's buffers; the SDK's batch-processor variables keep their meaning."""

    max_spans: int = 2048
    max_logs: int = 8192
    max_batch: int = 512
    schedule_delay_s: float = 1.0
    metric_interval_s: float = 60.0


def queue_settings(environ: Mapping[str, str] = os.environ) -> QueueSettings:
    return QueueSettings(
        max_spans=int(_float(environ, 2048, "OTEL_BSP_MAX_QUEUE_SIZE")),
        max_logs=int(_float(environ, 8192, "OTEL_BLRP_MAX_QUEUE_SIZE")),
        max_batch=max(1, int(_float(environ, 512, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"))),
        schedule_delay_s=_float(environ, 1000, "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BLRP_SCHEDULE_DELAY") / 1000,
        metric_interval_s=_float(environ, 60000, "OTEL_METRIC_EXPORT_INTERVAL") / 1000,
    )
