"""The collector's own logs as JSON lines, for log pipelines that parse them.

Chosen with ``service.telemetry.logs.encoding: json`` (the OTel Collector's key); each line
is one object with ``ts`` (RFC 3339, UTC), ``level``, ``logger``, ``msg`` and, for errors,
``exception``.
"""

import logging
from datetime import datetime, timezone

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(document).decode()


def use_json_logs() -> None:
    """Switch every handler of the root logger to JSON lines."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter())
