"""Names of the wire contract (docs/semconv.md), shared by the agent that writes records and
the collector that reads them, so the two cannot drift apart. Import-free on purpose."""

PREDICTION_EVENT = "modeltel.prediction"
"""OTLP ``LogRecord.event_name`` of one prediction."""

ATTR_EVENT_NAME = "event.name"
"""Where the event name goes for SDKs that predate the OTLP ``event_name`` field."""

ATTR_MODEL_NAME = "ml.model.name"
ATTR_MODEL_VERSION = "ml.model.version"
ATTR_PREDICTION_ID = "modeltel.prediction.id"
