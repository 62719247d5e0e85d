"""The component types a modeltel collector can be configured with."""

from modeltel.collector.component import Factory
from modeltel.collector.processors import drift, performance, predictions
from modeltel.collector.receivers import otlp
from modeltel.exporters import debug, loki, prometheus, prometheusremotewrite
from modeltel.exporters import otlp as otlp_exporter


def builtin_factories() -> dict[str, Factory]:
    """Keyed by ``<kind>/<type>``: a receiver and an exporter may share a type (otlp)."""
    factories = [otlp.FACTORY, predictions.FACTORY, drift.FACTORY, debug.FACTORY, prometheus.FACTORY]
    factories += [
        performance.FACTORY,
        loki.FACTORY,
        otlp_exporter.GRPC_FACTORY,
        otlp_exporter.HTTP_FACTORY,
        prometheusremotewrite.FACTORY,
    ]
    return {f"{factory.kind}/{factory.type}": factory for factory in factories}
