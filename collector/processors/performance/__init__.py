"""``performance`` processor: label joins, realized and estimated performance (docs/performance.md)."""

from modeltel.collector.component import Factory
from modeltel.collector.processors.performance.config import PerformanceConfig
from modeltel.collector.processors.performance.processor import PerformanceProcessor
from modeltel.collector.signals import Signal

FACTORY = Factory(
    kind="processor",
    type="performance",
    config=PerformanceConfig,
    signals=frozenset({Signal.LOGS}),
    create=PerformanceProcessor,
)

__all__ = ["FACTORY", "PerformanceConfig", "PerformanceProcessor"]
