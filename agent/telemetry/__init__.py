"""The agent's own OTLP pipeline for what it produces on the request path.

Measured on the machines modeltel targets, the OpenTelemetry SDK spends ~65 µs starting and
ending one span and ~100 µs encoding it for export, ~25 µs per histogram record and ~75 µs
per log record end to end: more than a model server can give per request (the example
server's whole request costs ~1.3 ms). Request spans, model-call spans and prediction
records therefore go through this package: compact records in bounded queues, encoded in
batches into the same OTLP protobuf messages the SDK would send, by one background thread.
Spans here implement the OpenTelemetry API's ``Span`` and are set in the OpenTelemetry
context, so spans the application makes with any SDK nest under them.
"""
