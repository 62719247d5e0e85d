"""Names of the wire contract (docs/semconv.md), shared by the agent that writes records and
the collector that reads them, so the two cannot drift apart. Import-free on purpose."""

PREDICTION_EVENT = "modeltel.prediction"
"""OTLP ``LogRecord.event_name`` of one prediction."""

ATTR_EVENT_NAME = "event.name"
"""Where the event name goes for SDKs that predate the OTLP ``event_name`` field."""

ATTR_MODEL_NAME = "ml.model.name"
ATTR_MODEL_VERSION = "ml.model.version"
ATTR_PREDICTION_ID = "modeltel.prediction.id"

ATTR_SAMPLE_RATE = "modeltel.sample_rate"
"""Head-sampling probability in (0, 1] the record was kept with; consumers weight it by 1/rate.
Absent means 1 (every prediction recorded)."""

LABEL_EVENT = "modeltel.label"
"""OTLP ``LogRecord.event_name`` of one ground-truth label. Its body is a JSON string
``{"label": <any JSON value>}``; it carries ``modeltel.prediction.id`` of the prediction it
labels and, when the producer knows them, the model name and version."""

PREDICTION_ID_HEADER = "x-modeltel-prediction-id"
"""Response header the FastAPI instrumentation may set with the ids of the request's
predictions (comma-separated when a request made several)."""
