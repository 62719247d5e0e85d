"""Exemplars on the collector's Prometheus output: the trace behind a sample.

An exemplar links one sample to the trace that produced it, with the labels ``trace_id``
(32 hex digits) and ``span_id`` (16), as the OpenTelemetry Collector's prometheus exporter
writes them. They appear only in OpenMetrics and only where OpenMetrics allows them: on
counters (``_total``) and histogram buckets. Prometheus 2.42 refuses a whole scrape whose
gauge carries one ("metric name … does not support exemplars"), and prometheus_client refuses
to write one, so a component that wants to point at a trace from a gauge-like figure must
publish a counter or a histogram beside it.

Components that register their own prometheus_client metrics on ``Host.registry`` attach
exemplars with the client's own API::

    counter.labels(model).inc(exemplar=trace_exemplar(trace_id, span_id))
    histogram.labels(model).observe(score, exemplar=trace_exemplar(trace_id, span_id))
"""

from opentelemetry.proto.metrics.v1.metrics_pb2 import Exemplar as OtlpExemplar
from prometheus_client.samples import Exemplar

MAX_LABEL_RUNES = 128
"""OpenMetrics caps the label names and values of one exemplar at 128 UTF-8 characters together."""


def trace_exemplar(
    trace_id: bytes | str, span_id: bytes | str = b"", extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Exemplar labels for ``trace_id``/``span_id`` (raw bytes or hex), plus ``extra`` while they fit.

    Extra labels that would push the set past :data:`MAX_LABEL_RUNES` are left out, trace
    and span first, because a scraper rejects the exemplar (or the client the exposition) otherwise.
    """
    labels: dict[str, str] = {}
    trace_hex = trace_id.hex() if isinstance(trace_id, bytes) else trace_id
    span_hex = span_id.hex() if isinstance(span_id, bytes) else span_id
    if trace_hex.strip("0"):
        labels["trace_id"] = trace_hex
    if span_hex.strip("0"):
        labels["span_id"] = span_hex
    used = sum(len(key) + len(value) for key, value in labels.items())
    for key, value in (extra or {}).items():
        if key in labels or used + len(key) + len(value) > MAX_LABEL_RUNES:
            continue
        labels[key] = value
        used += len(key) + len(value)
    return labels


def from_otlp(exemplar: OtlpExemplar, filtered_labels: dict[str, str]) -> Exemplar:
    """An OTLP exemplar as prometheus_client's, timestamped in seconds as OpenMetrics wants."""
    value = exemplar.as_double if exemplar.WhichOneof("value") == "as_double" else float(exemplar.as_int)
    timestamp = exemplar.time_unix_nano / 1e9 if exemplar.time_unix_nano else None
    return Exemplar(trace_exemplar(exemplar.trace_id, exemplar.span_id, filtered_labels), value, timestamp)
