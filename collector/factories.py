"""The component types a modeltel collector can be configured with."""

from modeltel.collector.component import Factory
from modeltel.collector.processors import predictions
from modeltel.collector.receivers import otlp
from modeltel.exporters import debug, prometheus, prometheusremotewrite


def builtin_factories() -> dict[str, Factory]:
    factories = [otlp.FACTORY, predictions.FACTORY, debug.FACTORY, prometheus.FACTORY]
    factories.append(prometheusremotewrite.FACTORY)
    return {factory.type: factory for factory in factories}
