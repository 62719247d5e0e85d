"""The one place that touches the OpenTelemetry Logs API and SDK.

The Logs API is still evolving (``opentelemetry._logs`` is underscored, ``emit`` gained
keyword arguments and ``event_name`` after 1.38); every other module calls the two
functions here, so a change upstream is a change in this file only.
"""

import inspect
from collections.abc import Sequence
from typing import Any

from opentelemetry import _logs

from modeltel import __version__
from modeltel.semconv import ATTR_EVENT_NAME

SEVERITY_INFO = _logs.SeverityNumber.INFO


def get_logger() -> Any:
    """The agent's logger; a proxy until a LoggerProvider is registered, then the real one."""
    return _logs.get_logger("modeltel.agent", __version__)


def _emit_takes_keywords() -> bool:
    return "body" in inspect.signature(_logs.Logger.emit).parameters


def _record_takes_event_name() -> bool:
    return "event_name" in inspect.signature(_logs.LogRecord.__init__).parameters


_EMIT_KEYWORDS = _emit_takes_keywords()
_RECORD_EVENT_NAME = _EMIT_KEYWORDS or _record_takes_event_name()


def emit_event(
    logger: Any, event_name: str, body: str, attributes: dict[str, Any], timestamp_ns: int
) -> None:
    """Emit one INFO event record in the current context (which supplies trace and span ids)."""
    if not _RECORD_EVENT_NAME:
        # Without the OTLP event_name field the collector reads the ``event.name`` attribute.
        attributes = {**attributes, ATTR_EVENT_NAME: event_name}
    fields: dict[str, Any] = {
        "timestamp": timestamp_ns,
        "severity_number": SEVERITY_INFO,
        "severity_text": "INFO",
        "body": body,
        "attributes": attributes,
    }
    if _RECORD_EVENT_NAME:
        fields["event_name"] = event_name
    if _EMIT_KEYWORDS:
        logger.emit(**fields)
    else:
        logger.emit(_logs.LogRecord(**fields))


def install_logger_provider(resource: Any, exporters: Sequence[Any]) -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider(resource=resource)
    for exporter in exporters:
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    _logs.set_logger_provider(provider)
