"""Prediction capture: one OTLP log record per prediction (the wire contract is docs/semconv.md).

Features and outputs travel as one JSON string in the log body, not as attributes: the
collector decodes a JSON body with orjson about ten times faster than it can walk 25
protobuf attributes in Python, and Loki caps structured metadata per line, while a JSON
line stays queryable there with ``| json``.
"""

import functools
import inspect
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from opentelemetry import trace

from modeltel.agent import otel_logs, sampling, settings, trace_context
from modeltel.agent.model_call import ModelIdentity
from modeltel.agent.prediction_log import emit_label, emit_predictions, feature_filter
from modeltel.agent.record_body import encode_body, feature_mapping
from modeltel.agent.request_context import current_request
from modeltel.agent.telemetry import pipeline as pipelines
from modeltel.agent.telemetry.spans import RecordingSpan
from modeltel.semconv import (
    ATTR_MODEL_NAME,
    ATTR_MODEL_VERSION,
    ATTR_PREDICTION_ID,
    ATTR_SAMPLE_RATE,
    LABEL_EVENT,
    PREDICTION_EVENT,
)

_log = logging.getLogger("modeltel.agent")
_logger = otel_logs.get_logger()

F = TypeVar("F", bound=Callable[..., Any])


_PREDICTION_ID = re.compile(r"[0-9a-fA-F]{32}")


def new_prediction_id() -> str:
    """128 random bits as 32 lowercase hex digits, like a W3C trace id."""
    return sampling.new_prediction_id(sampling.threshold(1.0))


def record_prediction(
    features: Any,
    prediction: Any,
    *,
    model: str,
    version: str | None = None,
    probabilities: Mapping[str, float] | Sequence[float] | None = None,
    prediction_id: str | None = None,
    timestamp_ns: int | None = None,
) -> str:
    """Record one prediction (a ``modeltel.prediction`` log record) and return its id.

    Sampled by ``MODELTEL_SAMPLE_RATE`` on the id (see ``modeltel.agent.sampling``); the id
    is returned either way. Never raises: a failure is logged and the id still returned, so
    the host's request path is never broken by monitoring.
    """
    timestamp_ns = timestamp_ns if timestamp_ns is not None else time.time_ns()
    try:
        mapping = feature_mapping(features)
        pipeline = pipelines._pipeline or pipelines.current()
        if pipeline is not None:
            return _record_on_pipeline(pipeline, mapping, prediction, model, version, probabilities,
                                       prediction_id, timestamp_ns)  # fmt: skip
        return _record_through_logs_api(
            mapping, prediction, model, version, probabilities, prediction_id, timestamp_ns
        )
    except Exception:
        prediction_id = prediction_id or new_prediction_id()
        _log.exception("modeltel could not record prediction %s of model %r", prediction_id, model)
        return prediction_id


def _record_on_pipeline(
    pipeline: Any,
    features: dict[str, Any],
    prediction: Any,
    model: str,
    version: str | None,
    probabilities: Any,
    prediction_id: str | None,
    timestamp_ns: int,
) -> str:
    request = current_request.get()
    span = trace_context.current_span(request)
    ids = emit_predictions(
        pipeline, _identity(model, version), (), None, [prediction],
        None if probabilities is None else [probabilities],
        span if type(span) is RecordingSpan else span.get_span_context(),
        request, timestamp_ns, ids=None if prediction_id is None else [prediction_id], mappings=[features],
    )  # fmt: skip
    if request is not None:
        request.prediction_ids.extend(ids)
    return ids[0]


@functools.lru_cache(maxsize=1024)
def _identity(model: str, version: str | None) -> ModelIdentity:
    return ModelIdentity(model, version)


def _record_through_logs_api(
    features: dict[str, Any],
    prediction: Any,
    model: str,
    version: str | None,
    probabilities: Any,
    prediction_id: str | None,
    timestamp_ns: int,
) -> str:
    """Without ``MODELTEL_ENABLED`` the record goes to whatever SDK the host configured."""
    rate = settings.current().sample_rate
    prediction_id = prediction_id or sampling.new_prediction_id(sampling.threshold(rate))
    if not sampling.is_sampled(prediction_id, rate):
        return prediction_id
    payload: dict[str, Any] = {"features": feature_filter().mapping(features), "prediction": prediction}
    if probabilities is not None:
        payload["probabilities"] = probabilities
    attributes: dict[str, Any] = {
        ATTR_MODEL_NAME: model,
        ATTR_PREDICTION_ID: prediction_id,
        ATTR_SAMPLE_RATE: float(rate),
    }
    if version is not None:
        attributes[ATTR_MODEL_VERSION] = version
    otel_logs.emit_event(_logger, PREDICTION_EVENT, encode_body(payload), attributes, timestamp_ns)
    return prediction_id


def record_label(
    prediction_id: str,
    label: Any,
    *,
    model: str | None = None,
    version: str | None = None,
    timestamp_ns: int | None = None,
) -> bool:
    """Record the ground truth of a prediction (a ``modeltel.label`` log record).

    Returns whether a record was queued: False for an id that is not 32 hex digits, and for
    a prediction that sampling did not keep (its label could never be joined). Never raises.
    """
    try:
        if not isinstance(prediction_id, str) or not _PREDICTION_ID.fullmatch(prediction_id):
            _log.warning("modeltel: record_label needs a 32-hex-digit prediction id, got %r", prediction_id)
            return False
        prediction_id = prediction_id.lower()
        rate = settings.current().sample_rate
        if not sampling.is_sampled(prediction_id, rate):
            return False
        timestamp_ns = timestamp_ns if timestamp_ns is not None else time.time_ns()
        body = encode_body({"label": label})
        pipeline = pipelines.current()
        if pipeline is not None:
            identity = ModelIdentity(model, version) if model is not None else None
            emit_label(
                pipeline,
                prediction_id,
                body,
                identity,
                trace.get_current_span().get_span_context(),
                timestamp_ns,
            )
            return True
        attributes: dict[str, Any] = {ATTR_PREDICTION_ID: prediction_id, ATTR_SAMPLE_RATE: float(rate)}
        if model is not None:
            attributes[ATTR_MODEL_NAME] = model
        if version is not None:
            attributes[ATTR_MODEL_VERSION] = version
        otel_logs.emit_event(_logger, LABEL_EVENT, body, attributes, timestamp_ns)
        return True
    except Exception:
        _log.exception("modeltel could not record the label of prediction %r", prediction_id)
        return False


def predictor(*, model: str, version: str | None = None) -> Callable[[F], F]:
    """Decorate ``predict(features, ...) -> prediction`` (sync or async) to record each call.

    The first positional argument is taken as the features; the return value is the
    prediction and is passed through unchanged.
    """

    def decorate(function: F) -> F:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(features: Any, *args: Any, **kwargs: Any) -> Any:
                prediction = await function(features, *args, **kwargs)
                record_prediction(features, prediction, model=model, version=version)
                return prediction

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(function)
        def wrapper(features: Any, *args: Any, **kwargs: Any) -> Any:
            prediction = function(features, *args, **kwargs)
            record_prediction(features, prediction, model=model, version=version)
            return prediction

        return wrapper  # type: ignore[return-value]

    return decorate
