"""The collector's own metrics, registered once per collector in the shared registry."""

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter


@dataclass(frozen=True)
class CollectorMetrics:
    receiver_accepted: Counter
    receiver_refused: Counter
    receiver_rejected_requests: Counter
    exporter_sent: Counter

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
            exporter_sent=Counter(
                "modeltel_exporter_sent",
                "Items an exporter delivered.",
                ["exporter", "signal"],
                registry=registry,
            ),
        )
