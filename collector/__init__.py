"""modeltel collector: OTLP in, model-monitoring metrics and forwarded telemetry out.

Built on the OpenTelemetry Collector's component model: receivers turn wire requests into
OTLP batches, processors transform or observe them, exporters send them on; a YAML config
wires them into one pipeline or more per signal (``config``, ``service``).
"""
