"""The agent's metrics, made with the OpenTelemetry metrics API on the agent's own provider.

Names follow the OpenTelemetry semantic conventions where one exists (HTTP server duration,
process CPU and memory) and the ``modeltel.`` namespace otherwise; the collector's
Prometheus exporter turns them into ``http_server_request_duration_seconds``,
``modeltel_model_inference_duration_seconds``, ``modeltel_model_predictions_total``,
``modeltel_model_errors_total``, ``modeltel_agent_dropped_total``,
``process_cpu_time_seconds_total`` and ``process_memory_usage_bytes``.
"""

import os
import resource
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Meter, Observation

# Semantic-convention advice for http.server.request.duration.
HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
# Model inference is often sub-millisecond; the HTTP buckets would put it all in the first.
INFERENCE_BUCKETS = [
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
]
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class Instruments:
    http_duration: Histogram
    inference_duration: Histogram
    predictions: Counter
    model_errors: Counter


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except OSError:  # not Linux: the peak is what the platform offers
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _cpu_time(options: CallbackOptions) -> Iterable[Observation]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return [
        Observation(usage.ru_utime, {"cpu.mode": "user"}),
        Observation(usage.ru_stime, {"cpu.mode": "system"}),
    ]


def _memory(options: CallbackOptions) -> Iterable[Observation]:
    return [Observation(_resident_bytes())]


def create_instruments(meter: Meter, dropped: Callable[[], dict[tuple[str, str], int]]) -> Instruments:
    """``dropped`` returns the agent's drop counts by (signal, reason), read at each export."""

    def observe_dropped(options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(count, {"signal": signal, "reason": reason})
            for (signal, reason), count in dropped().items()
        ]

    meter.create_observable_counter(
        "modeltel.agent.dropped", [observe_dropped], unit="{item}",
        description="Telemetry the agent dropped instead of slowing the host: queue full or export failed.",
    )  # fmt: skip
    meter.create_observable_counter(
        "process.cpu.time", [_cpu_time], unit="s", description="CPU seconds used."
    )
    meter.create_observable_up_down_counter(
        "process.memory.usage", [_memory], unit="By", description="Resident set size."
    )
    return Instruments(
        http_duration=meter.create_histogram(
            "http.server.request.duration", unit="s", description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=HTTP_DURATION_BUCKETS,
        ),
        inference_duration=meter.create_histogram(
            "modeltel.model.inference.duration", unit="s",
            description="Duration of one predict-like model call (a whole batch).",
            explicit_bucket_boundaries_advisory=INFERENCE_BUCKETS,
        ),
        predictions=meter.create_counter(
            "modeltel.model.predictions", unit="{prediction}",
            description="Predictions (rows) made, by model, version and predicted class, before sampling.",
        ),
        model_errors=meter.create_counter(
            "modeltel.model.errors", unit="{error}", description="Model calls that raised, by exception type."
        ),
    )  # fmt: skip
