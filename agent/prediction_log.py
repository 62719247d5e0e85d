"""Rows of a model call, or one explicit prediction or label, as records on the pipeline."""

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import orjson
from opentelemetry.trace import Span, SpanContext

from modeltel.agent import sampling, settings
from modeltel.agent.model_call import ModelIdentity
from modeltel.agent.privacy import FeatureFilter
from modeltel.agent.record_body import JSON_OPTIONS, encode_body_bytes, json_fallback
from modeltel.agent.request_context import RequestState
from modeltel.agent.telemetry.log_wire import record_attributes
from modeltel.agent.telemetry.pipeline import Pipeline
from modeltel.agent.telemetry.spans import RecordingSpan
from modeltel.semconv import (
    ATTR_MODEL_NAME,
    ATTR_MODEL_VERSION,
    ATTR_PREDICTION_ID,
    ATTR_SAMPLE_RATE,
    LABEL_EVENT,
    PREDICTION_EVENT,
)

_filter: FeatureFilter | None = None


def feature_filter() -> FeatureFilter:
    global _filter
    if _filter is None:
        _filter = FeatureFilter(settings.current().features)
    return _filter


@lru_cache(maxsize=1024)
def model_attributes(name: str, version: str | None, rate: float) -> bytes:
    attributes: dict[str, Any] = {ATTR_MODEL_NAME: name}
    if version is not None:
        attributes[ATTR_MODEL_VERSION] = version
    attributes[ATTR_SAMPLE_RATE] = float(rate)
    return record_attributes(attributes)


def _ids(context: SpanContext | Span | None) -> tuple[int, int]:
    if type(context) is RecordingSpan:  # sampled, its ids in slots
        return context.trace_id, context.span_id
    if isinstance(context, Span):  # e.g. the NonRecordingSpan of a root call whose trace was dropped
        context = context.get_span_context()
    if context is not None and context.is_valid and context.trace_flags.sampled:
        return context.trace_id, context.span_id
    return 0, 0


def emit_predictions(
    pipeline: Pipeline,
    identity: ModelIdentity,
    names: Sequence[str],
    rows: Any,
    predictions: Sequence[Any],
    probabilities: Sequence[Any] | None,
    context: SpanContext | Span | None,
    request: RequestState | None,
    time_ns: int,
    ids: list[str] | None = None,
    scores: Sequence[Any] | None = None,
    mappings: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Draw an id per row (unless given), sample, and queue one record per kept row;
    returns every id, kept or not. ``predictions`` has one entry per row; ``rows`` is a
    2-D numpy array or a list of rows (None when no row can be kept). Only the kept rows
    are converted to Python values, and ``probabilities`` and ``scores`` are only indexed
    for them, so a lazy per-row sequence costs nothing for dropped rows. ``mappings``, when
    given, are the rows already as name → value dicts (``record_prediction``), used in
    place of ``names`` and ``rows`` instead of being split up and zipped together again."""
    rate = settings.current().sample_rate
    bound = sampling.threshold(rate)
    keep = request.trace_kept if request is not None else None
    drawn = ids is None
    if ids is None:
        ids = (
            [sampling.new_prediction_id(bound, keep)]
            if len(predictions) == 1
            else sampling.new_prediction_ids(len(predictions), bound, keep)
        )
    if not pipeline.logs_enabled or bound == 0 or (drawn and keep is False and bound < sampling.FULL):
        return ids  # ids drawn to match a dropped trace are all dropped too
    if bound >= sampling.FULL or (drawn and keep is True):  # every id is kept (drawn to be)
        kept: Sequence[int] = range(len(ids))
    else:
        kept = [index for index, prediction_id in enumerate(ids) if int(prediction_id[:16], 16) < bound]
        if not kept:
            return ids
    source = mappings if mappings is not None else rows
    if len(kept) == len(ids):  # all rows: no fancy index (numpy's costs ten times a tolist on one row)
        selected = source.tolist() if hasattr(source, "tolist") else source
    else:
        selected = source[kept].tolist() if hasattr(source, "tolist") else [source[index] for index in kept]
    privacy = feature_filter()
    if mappings is None:
        features = privacy.rows(names, selected)
    else:
        features = selected if privacy.policy.is_open else [privacy.mapping(row) for row in selected]
    attributes = model_attributes(identity.name, identity.version, rate)
    trace_id, span_id = _ids(context)
    fields: list[Any] = []
    extend = fields.extend
    dumps = orjson.dumps
    for row_features, index in zip(features, kept, strict=True):
        payload: dict[str, Any] = {"features": row_features, "prediction": predictions[index]}
        if probabilities is not None:
            payload["probabilities"] = probabilities[index]
        if scores is not None:
            payload["score"] = scores[index]
        body = dumps(payload, default=json_fallback, option=JSON_OPTIONS)  # encode_body, inlined
        if b"null" in body:
            body = encode_body_bytes(payload)  # non-finite values: the careful path
        # Kept as text: holding orjson's output buffer itself measured 3-6x slower per row (each
        # dumps then needs fresh memory), while the decoded copy lets the next dumps reuse it.
        # LogEvent's fields, one record after another: no tuple per record (see queue.FieldQueue)
        extend((time_ns, PREDICTION_EVENT, body.decode(), attributes, ATTR_PREDICTION_ID, ids[index],
                trace_id, span_id))  # fmt: skip
    pipeline.put_logs(fields)
    return ids


def emit_label(
    pipeline: Pipeline,
    prediction_id: str,
    body: str,
    identity: ModelIdentity | None,
    context: SpanContext | None,
    time_ns: int,
) -> None:
    rate = settings.current().sample_rate
    attributes = (
        model_attributes(identity.name, identity.version, rate)
        if identity
        else record_attributes({ATTR_SAMPLE_RATE: float(rate)})
    )
    trace_id, span_id = _ids(context)
    record = (time_ns, LABEL_EVENT, body, attributes, ATTR_PREDICTION_ID, prediction_id, trace_id, span_id)
    pipeline.put_log(record)  # LogEvent's fields in a plain tuple (see LogEvent)
