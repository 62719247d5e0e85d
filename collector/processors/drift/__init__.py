"""``drift`` processor: streaming drift and data-quality metrics (docs/drift-processor.md)."""

from modeltel.collector.component import Factory
from modeltel.collector.processors.drift.config import DriftConfig
from modeltel.collector.processors.drift.processor import DriftProcessor
from modeltel.collector.signals import Signal

FACTORY = Factory(
    kind="processor",
    type="drift",
    config=DriftConfig,
    signals=frozenset({Signal.LOGS}),
    create=DriftProcessor,
)

__all__ = ["FACTORY", "DriftConfig", "DriftProcessor"]
