"""The agent's metrics and their names.

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

from modeltel.agent.telemetry.metrics import (
    Attributes,
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
)

# Semantic-convention advice for http.server.request.duration.
HTTP_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# Model inference is often sub-millisecond; the HTTP buckets would put it all in the first.
INFERENCE_BUCKETS = (
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
)
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class Instruments:
    http_duration: Histogram
    inference_duration: Histogram
    predictions: Counter
    model_errors: Counter
    observed: tuple[ObservableCounter | ObservableGauge, ...]

    def recorded(self) -> tuple[Histogram | Counter, ...]:
        """The instruments the request path records into (their measurements wait to be folded)."""
        return (self.http_duration, self.inference_duration, self.predictions, self.model_errors)

    def all(self) -> tuple:
        return (
            self.http_duration,
            self.inference_duration,
            self.predictions,
            self.model_errors,
            *self.observed,
        )


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except OSError:  # not Linux: the peak is what the platform offers
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _cpu_time() -> list[tuple[Attributes, float]]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return [((("cpu.mode", "user"),), usage.ru_utime), ((("cpu.mode", "system"),), usage.ru_stime)]


def create_instruments(dropped: Callable[[], dict[tuple[str, str], int]]) -> Instruments:
    """``dropped`` returns the agent's drop counts by (signal, reason), read at each export."""

    def observe_dropped() -> Iterable[tuple[Attributes, float]]:
        return [
            ((("signal", signal), ("reason", reason)), count) for (signal, reason), count in dropped().items()
        ]

    return Instruments(
        http_duration=Histogram(
            "http.server.request.duration", "s", "Duration of HTTP server requests.", HTTP_DURATION_BUCKETS
        ),
        inference_duration=Histogram(
            "modeltel.model.inference.duration",
            "s",
            "Duration of one predict-like model call (a whole batch).",
            INFERENCE_BUCKETS,
        ),
        predictions=Counter(
            "modeltel.model.predictions",
            "{prediction}",
            "Predictions (rows) made, by model, version and predicted class, before sampling.",
        ),
        model_errors=Counter(
            "modeltel.model.errors", "{error}", "Model calls that raised, by exception type."
        ),
        observed=(
            ObservableCounter(
                "modeltel.agent.dropped",
                "{item}",
                "Telemetry the agent dropped instead of slowing the host: queue full or export failed.",
                observe_dropped,
            ),
            ObservableCounter("process.cpu.time", "s", "CPU seconds used.", _cpu_time),
            ObservableGauge(
                "process.memory.usage", "By", "Resident set size.", lambda: [((), _resident_bytes())]
            ),
        ),
    )
