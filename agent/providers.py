"""SDK providers for traces, metrics and logs, configured from the standard ``OTEL_*`` variables.

Defaults differ from the SDK's in one way: with no ``OTEL_EXPORTER_OTLP_*`` protocol or
endpoint set, telemetry goes over OTLP/HTTP protobuf to the modeltel collector sidecar at
``http://127.0.0.1:4318``. Everything else (headers, compression, timeouts, batch sizes,
export interval, sampler, resource attributes, ``OTEL_SDK_DISABLED``) is read by the SDK
components themselves, exactly as ``opentelemetry-instrument`` would.
"""

import logging
import os
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.util._importlib_metadata import entry_points

from modeltel import __version__
from modeltel.agent import otel_logs

Signal = Literal["traces", "metrics", "logs"]

DEFAULT_PROTOCOL = "http/protobuf"
DEFAULT_HTTP_ENDPOINT = "http://127.0.0.1:4318"
DEFAULT_GRPC_ENDPOINT = "http://127.0.0.1:4317"
_OTLP_EXPORTER_BY_PROTOCOL = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}

_log = logging.getLogger("modeltel.agent")


def exporter_names(signal: Signal, environ: Mapping[str, str] = os.environ) -> list[str]:
    """``OTEL_<SIGNAL>_EXPORTER``: comma-separated, default ``otlp``, ``none`` for nothing."""
    raw = environ.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp")
    names = [name.strip() for name in raw.split(",") if name.strip()]
    return [] if names == ["none"] else names


def otlp_protocol(signal: Signal, environ: Mapping[str, str] = os.environ) -> str:
    protocol = (
        environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or DEFAULT_PROTOCOL
    ).strip()
    if protocol not in _OTLP_EXPORTER_BY_PROTOCOL:
        _log.warning(
            "OTLP protocol %r is not supported by the Python SDK; using %s", protocol, DEFAULT_PROTOCOL
        )
        return DEFAULT_PROTOCOL
    return protocol


def otlp_default_endpoint(
    signal: Signal, protocol: str, environ: Mapping[str, str] = os.environ
) -> str | None:
    """The endpoint to pass explicitly, or None when the environment names one."""
    if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get(
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
    ):
        return None
    if protocol == "grpc":
        return DEFAULT_GRPC_ENDPOINT
    return f"{DEFAULT_HTTP_ENDPOINT}/v1/{signal}"


def build_exporter(signal: Signal, name: str, environ: Mapping[str, str] = os.environ) -> Any:
    """Instantiate the exporter registered under ``name`` in the SDK's entry-point group."""
    kwargs: dict[str, Any] = {}
    if name == "otlp":
        protocol = otlp_protocol(signal, environ)
        name = _OTLP_EXPORTER_BY_PROTOCOL[protocol]
        endpoint = otlp_default_endpoint(signal, protocol, environ)
        if endpoint is not None:
            kwargs["endpoint"] = endpoint
    found = list(entry_points(group=f"opentelemetry_{signal}_exporter", name=name))
    if not found:
        raise ValueError(f"no {signal} exporter named {name!r} is installed (OTEL_{signal.upper()}_EXPORTER)")
    return found[0].load()(**kwargs)


def build_resource() -> Resource:
    """SDK resource plus an instance id made now, in the serving process.

    The SDK's own default ``service.instance.id`` is drawn when the SDK is imported, so
    workers forked from a master that imported it would share one; ours is drawn when
    the providers are built, after any fork. ``OTEL_RESOURCE_ATTRIBUTES`` and
    ``OTEL_SERVICE_NAME`` still win over both.
    """
    pid = os.getpid()
    ours: dict[str, object] = {
        "telemetry.distro.name": "modeltel",
        "telemetry.distro.version": __version__,
        "process.pid": pid,
    }
    if "service.instance.id" not in OTELResourceDetector().detect().attributes:
        ours["service.instance.id"] = uuid.uuid4().hex
    return Resource.create().merge(Resource(ours))


_resources: dict[int, Resource] = {}


def process_resource() -> Resource:
    """``build_resource`` once per process: the SDK providers and the agent's pipeline share it."""
    pid = os.getpid()
    if pid not in _resources:
        _resources[pid] = build_resource()
    return _resources[pid]


def _is_sdk_disabled(environ: Mapping[str, str]) -> bool:
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def install_global_providers(environ: Mapping[str, str] = os.environ) -> None:
    """Build the three providers and register them as the process-global ones."""
    if _is_sdk_disabled(environ):
        _log.info("OTEL_SDK_DISABLED=true: modeltel leaves OpenTelemetry unconfigured")
        return
    resource = process_resource()

    tracer_provider = TracerProvider(resource=resource)
    for name in exporter_names("traces", environ):
        tracer_provider.add_span_processor(BatchSpanProcessor(build_exporter("traces", name, environ)))
    trace.set_tracer_provider(tracer_provider)

    readers: list[MetricReader] = []
    for name in exporter_names("metrics", environ):
        exporter = build_exporter("metrics", name, environ)
        if isinstance(exporter, MetricReader):
            readers.append(exporter)
        elif isinstance(exporter, MetricExporter):
            readers.append(PeriodicExportingMetricReader(exporter))
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))

    log_exporters = [build_exporter("logs", name, environ) for name in exporter_names("logs", environ)]
    otel_logs.install_logger_provider(resource, log_exporters)
