"""The component types a modeltel collector can be configured with."""

from modeltel.collector.component import Factory
from modeltel.collector.processors import drift, predictions
from modeltel.collector.receivers import otlp
from modeltel.exporters import debug, prometheus


def builtin_factories() -> dict[str, Factory]:
    factories = [otlp.FACTORY, predictions.FACTORY, drift.FACTORY, debug.FACTORY, prometheus.FACTORY]
    return {factory.type: factory for factory in factories}
