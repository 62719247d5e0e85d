"""The collector's own metrics, registered once per collector in the shared registry."""

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Receive-to-acknowledge latency: sub-millisecond for a queue put, seconds under backpressure.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class CollectorMetrics:
    receiver_accepted: Counter
    receiver_refused: Counter
    receiver_rejected_requests: Counter
    receiver_dropped: Counter
    receiver_processing: Histogram
    exporter_sent: Counter
    exporter_failed: Counter
    exporter_dropped: Counter
    exporter_queue_size: Gauge
    exporter_queue_capacity: Gauge

    @classmethod
    def register(cls, registry: CollectorRegistry) -> "CollectorMetrics":
        receiver_labels = ["receiver", "transport", "signal"]
        return cls(
            receiver_accepted=Counter(
                "modeltel_receiver_accepted",
                "Spans, metric data points or log records a receiver accepted and handed to its pipelines.",
                receiver_labels,
                registry=registry,
            ),
            receiver_refused=Counter(
                "modeltel_receiver_refused",
                "Items a receiver could not decode or its pipelines failed to take; the sender got an error.",
                receiver_labels,
                registry=registry,
            ),
            receiver_rejected_requests=Counter(
                "modeltel_receiver_rejected_requests",
                "Requests answered with an error before any item was read (bad encoding, type or size).",
                [*receiver_labels, "code"],
                registry=registry,
            ),
            receiver_dropped=Counter(
                "modeltel_receiver_dropped",
                "Items removed from accepted requests because they break OTLP (e.g. wrong id length); "
                "the sender is told through OTLP partial success.",
                [*receiver_labels, "reason"],
                registry=registry,
            ),
            receiver_processing=Histogram(
                "modeltel_receiver_processing_seconds",
                "Time from a decoded request to its acknowledgement: processors plus exporter enqueue.",
                receiver_labels,
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            exporter_sent=Counter(
                "modeltel_exporter_sent",
                "Items an exporter delivered.",
                ["exporter", "signal"],
                registry=registry,
            ),
            exporter_failed=Counter(
                "modeltel_exporter_failed",
                "Items in send attempts that failed, counted per attempt (retries included): "
                "a backend in trouble, not necessarily lost data (see modeltel_exporter_dropped).",
                ["exporter", "signal"],
                registry=registry,
            ),
            exporter_dropped=Counter(
                "modeltel_exporter_dropped",
                "Items an exporter gave up on, by reason: lost data.",
                ["exporter", "signal", "reason"],
                registry=registry,
            ),
            exporter_queue_size=Gauge(
                "modeltel_exporter_queue_size",
                "Current size of an exporter's sending queue, in its sizer's unit (requests, items, bytes).",
                ["exporter"],
                registry=registry,
            ),
            exporter_queue_capacity=Gauge(
                "modeltel_exporter_queue_capacity",
                "Capacity of an exporter's sending queue, in its sizer's unit.",
                ["exporter"],
                registry=registry,
            ),
        )
