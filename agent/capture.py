"""Capture core: one model call becomes a span, metrics and a prediction record per row.

Framework hooks call ``observe``; it runs the original method, and only the outermost
observed call records (a Pipeline's ``predict`` calls its final estimator's, a classifier's
``predict`` often calls its own ``predict_proba``). The original method's result or
exception reaches the caller unchanged; nothing of the agent's own raises into the host.

This is the serving hot path (one call per request), and on this machine every Python call
costs about half a microsecond, so it is written to make few: a model's name, version and
metric attributes are settled once per model object, and inside a trace that sampling
dropped the call gets no span of its own (it would be a ``NonRecordingSpan`` nobody sees;
spans the application starts inside ``predict`` still join the request's trace context).
"""

import logging
import time
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol

from opentelemetry.trace import SpanKind, StatusCode

from modeltel.agent import model_registry, sampling, settings, trace_context
from modeltel.agent.model_call import ModelCall, ModelIdentity
from modeltel.agent.prediction_log import emit_predictions
from modeltel.agent.request_context import current_request
from modeltel.agent.telemetry import pipeline as pipelines
from modeltel.agent.telemetry.spans import RecordingSpan, start_child_span, start_span

_log = logging.getLogger("modeltel.agent")
# Outside any observed call, or inside one: with the rows' features wanted, or only its
# outputs (every row is sure to be dropped by sampling, or logs are off, and nobody listens:
# describing the inputs would be wasted work on the request path).
OUTSIDE, WITH_INPUTS, OUTPUTS_ONLY = 0, 1, 2
call_mode: ContextVar[int] = ContextVar("modeltel_model_call", default=OUTSIDE)
OTHER_CLASS = "_other"
Attributes = tuple[tuple[str, Any], ...]


class Describe(Protocol):
    def __call__(
        self, model: Any, method: str, args: tuple, kwargs: dict, result: Any
    ) -> ModelCall | None: ...


Listener = Callable[[Any, ModelCall, int], None]
_listeners: list[Listener] = []


def add_listener(listener: Listener) -> None:
    """Also hand each described call ``(model, call, duration_ns)`` to ``listener``."""
    _listeners.append(listener)


def observe(
    model: Any, method: str, function: Callable[..., Any], args: tuple, kwargs: dict, describe: Describe
) -> Any:
    """Run ``function(*args, **kwargs)`` (the original method; ``args[0]`` is the model) and record it."""
    if call_mode.get():
        return function(*args, **kwargs)
    pipeline = pipelines._pipeline or pipelines.current()
    if pipeline is None and not _listeners:
        return function(*args, **kwargs)
    request = current_request.get()
    if request is not None and request.trace_kept is False and not _listeners:
        if trace_context.current() is request.context:  # still the request's own dropped trace
            return _observe_dropped(pipeline, model, method, function, args, kwargs, describe, request)
        token = call_mode.set(OUTPUTS_ONLY)
    elif not _listeners and not pipeline.logs_enabled:
        token = call_mode.set(OUTPUTS_ONLY)
    else:
        token = call_mode.set(WITH_INPUTS)
    try:
        call = _Call.begin(pipeline, model, method, request) if pipeline is not None else None
        started = time.perf_counter_ns()
        try:
            result = function(*args, **kwargs)
        except BaseException as error:
            if call is not None:
                call.failed(error, time.perf_counter_ns() - started)
            raise
        duration = time.perf_counter_ns() - started
        try:
            described = describe(model, method, args[1:], kwargs, result)
            if call is not None:
                call.succeeded(described, duration)
            if described is not None:
                for listener in _listeners:
                    listener(model, described, duration)
        except Exception:
            _log.exception("modeltel could not record a %s call of %s", method, type(model).__name__)
        finally:
            if call is not None:
                call.end()
        return result
    finally:
        call_mode.reset(token)


def _observe_dropped(
    pipeline: Any,
    model: Any,
    method: str,
    function: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    describe: Describe,
    request: Any,
) -> Any:
    """``observe`` for a call inside a request whose trace sampling dropped (at 10% sampling,
    nine calls in ten): no span and no record can come of it, so only the inference
    duration, the predictions counter and the rows' prediction ids (for the response header)
    are kept, without the span and record machinery of ``_Call``. The ids are drawn as
    ``emit_predictions`` draws them for a dropped trace: each one sampled away."""
    token = call_mode.set(OUTPUTS_ONLY)
    try:
        started = time.perf_counter_ns()
        try:
            result = function(*args, **kwargs)
        except BaseException as error:
            duration = time.perf_counter_ns() - started
            try:
                _Call(pipeline, model_labels(model), request, None, None).failed(error, duration)
            except Exception:
                _log.exception("modeltel could not record a failed model call")
            raise
        duration = time.perf_counter_ns() - started
        try:
            labels = model_labels(model)
            instruments = pipeline.instruments
            instruments.inference_duration.record(duration / 1e9, labels.attributes)
            call = describe(model, method, args[1:], kwargs, result)
            if call is None:
                return result
            count_predictions(instruments, labels, call)
            rows = call.rows
            agent = settings.current()
            if rows and agent.prediction_id_header:
                bound = sampling.threshold(agent.sample_rate)
                if rows == 1:
                    request.prediction_ids.append(sampling.new_prediction_id(bound, False))
                else:
                    request.prediction_ids.extend(sampling.new_prediction_ids(rows, bound, False))
        except Exception:
            _log.exception("modeltel could not record a %s call of %s", method, type(model).__name__)
        return result
    finally:
        call_mode.reset(token)


class _ModelLabels:
    """What a model's telemetry is labelled with, settled at its first call (and again after
    any ``register_model``): its identity, the metric attributes, and per predicted class
    the attributes of the predictions counter, capped at ``max_classes`` classes."""

    __slots__ = ("attributes", "by_class", "generation", "identity", "model", "span_attributes")

    def __init__(self, model: Callable[[], Any], identity: ModelIdentity, generation: int) -> None:
        self.model = model  # a weak reference, or a strong stand-in
        self.identity = identity
        self.generation = generation
        attributes: Attributes = (("ml.model.name", identity.name),)
        if identity.version is not None:
            attributes += (("ml.model.version", identity.version),)
        self.attributes = attributes
        self.span_attributes = dict(attributes)  # copied into each model.predict span's own
        self.by_class = _classes_by_identity.setdefault(identity, {})
        _labels_by_attributes[attributes] = self

    def class_attributes(self, label: str) -> Attributes:
        by_class = self.by_class
        found = by_class.get(label)
        if found is None:
            if len(by_class) >= settings.current().max_classes:
                label = OTHER_CLASS
            found = by_class.get(label)
            if found is None:
                found = by_class[label] = (*self.attributes, ("ml.model.predicted_class", label))
        return found


def count_by_class(
    attributes: Attributes, predictions: Any, classified: bool
) -> list[tuple[Attributes, int]]:
    """Predictions by predicted class, run when the counter folds (off the request path);
    regression values get no class label. ``attributes`` are the model's metric attributes,
    ``predictions`` those of a call, or its one prediction: for a 1-row call a string or
    number, not a list, so that waiting allocates nothing the garbage collector tracks."""
    labels = _labels_by_attributes[attributes]
    if type(predictions) is not list:
        predictions = [predictions]
    if not predictions:
        return []
    if not classified and not isinstance(predictions[0], (str, bool, int)):
        return [(labels.attributes, len(predictions))]
    if len(predictions) == 1:
        return [(labels.class_attributes(str(predictions[0])), 1)]
    by_label: dict[str, int] = {}
    for prediction in predictions:
        label = str(prediction)
        by_label[label] = by_label.get(label, 0) + 1
    return [(labels.class_attributes(label), count) for label, count in by_label.items()]


def count_predictions(instruments: Any, labels: "_ModelLabels", call: ModelCall) -> list[Any]:
    """Queue a call's predictions for the by-class counter; returns them as a list, one per
    row. A 1-row call waits as its one prediction, not a list (see ``count_by_class``)."""
    predictions = call.predictions
    if type(predictions) is not list:
        predictions = _as_list(predictions) if predictions is not None else [None] * call.rows
    counted = predictions[0] if len(predictions) == 1 and type(predictions[0]) is not list else predictions
    instruments.predictions.add_counted(
        count_by_class, labels.attributes, counted, call.probabilities is not None
    )
    return predictions


# Shared by every model object with the same identity, so the class cap is per model name.
_classes_by_identity: dict[ModelIdentity, dict[str, Attributes]] = {}
# A model's labels by its metric attributes: what a waiting class count refers to them by.
_labels_by_attributes: dict[Attributes, "_ModelLabels"] = {}
_labels: dict[int, _ModelLabels] = {}
_MAX_CACHED_MODELS = 1024


def model_labels(model: Any) -> _ModelLabels:
    labels = _labels.get(id(model))
    if labels is not None and labels.model() is model and labels.generation == model_registry.generation:
        return labels
    generation = model_registry.generation
    try:
        reference: Callable[[], Any] = weakref.ref(model)
    except TypeError:  # cannot be weakly referenced: settle the labels for this call only
        return _ModelLabels(_Referent(model), model_registry.identity(model), -1)
    labels = _ModelLabels(reference, model_registry.identity(model), generation)
    if len(_labels) >= _MAX_CACHED_MODELS:
        _labels.clear()
    _labels[id(model)] = labels
    return labels


class _Call:
    """The telemetry of one observed call: its span (if its trace is sampled), then metrics
    and records at the end."""

    __slots__ = ("_detach", "labels", "pipeline", "request", "span", "time_ns")

    def __init__(self, pipeline: Any, labels: _ModelLabels, request: Any, span: Any, detach: Any) -> None:
        self.pipeline, self.labels, self.request, self.span, self._detach = (
            pipeline,
            labels,
            request,
            span,
            detach,
        )
        self.time_ns = time.time_ns()

    @classmethod
    def begin(cls, pipeline: Any, model: Any, method: str, request: Any) -> "_Call | None":
        try:
            labels = model_labels(model)
            current = trace_context.current_span(request)
            if type(current) is RecordingSpan:  # the agent's own span: sampled, ids in slots
                attributes = {**labels.span_attributes, "ml.model.method": method}
                span = start_child_span(
                    "model.predict", current, SpanKind.INTERNAL, attributes, pipeline.put_span
                )
            else:
                parent = current.get_span_context()
                if parent.is_valid and not parent.trace_flags.sampled:
                    return cls(pipeline, labels, request, None, None)  # a dropped trace: no span to record
                attributes = {**labels.span_attributes, "ml.model.method": method}
                sink, bound = pipeline.put_span, pipeline.trace_bound
                span = start_span("model.predict", parent, SpanKind.INTERNAL, attributes, sink, bound)
            token = trace_context.attach(trace_context.with_span(span))
            return cls(pipeline, labels, request, span, token)
        except Exception:
            _log.exception("modeltel could not start recording a model call")
            return None

    def failed(self, error: BaseException, duration_ns: int) -> None:
        try:
            instruments = self.pipeline.instruments
            attributes = (*self.labels.attributes, ("error.type", type(error).__qualname__))
            instruments.model_errors.add(1, attributes)
            span = self.span
            if type(span) is RecordingSpan:
                instruments.inference_duration.record(
                    duration_ns / 1e9, attributes, span.trace_id, span.span_id
                )
            else:
                instruments.inference_duration.record(duration_ns / 1e9, attributes)
            if span is not None:
                span.record_exception(error)
                span.set_status(StatusCode.ERROR, f"{type(error).__qualname__}: {error}")
        except Exception:
            _log.exception("modeltel could not record a failed model call")
        finally:
            self.end()

    def succeeded(self, call: ModelCall | None, duration_ns: int) -> None:
        pipeline, labels, span = self.pipeline, self.labels, self.span
        instruments = pipeline.instruments
        if type(span) is RecordingSpan:
            instruments.inference_duration.record(
                duration_ns / 1e9, labels.attributes, span.trace_id, span.span_id
            )
        else:
            instruments.inference_duration.record(duration_ns / 1e9, labels.attributes)
        if call is None:
            return
        predictions = count_predictions(instruments, labels, call)
        if span is not None:
            span.set_attribute("ml.model.batch_size", call.rows)
            if call.objective is not None:
                span.set_attribute("ml.model.objective", call.objective)
        if call.rows == 0:
            return
        request = self.request
        ids = emit_predictions(
            pipeline, labels.identity, call.feature_names, call.features, predictions, call.probabilities,
            span, request, self.time_ns, scores=call.scores,
        )  # fmt: skip
        if request is not None:
            request.prediction_ids.extend(ids)

    def end(self) -> None:
        if self._detach is None:
            return
        trace_context.detach(self._detach)
        self._detach = None
        self.span.end()


class _Referent:
    """A strong stand-in for ``weakref.ref`` for models that cannot be weakly referenced."""

    __slots__ = ("_model",)

    def __init__(self, model: Any) -> None:
        self._model = model

    def __call__(self) -> Any:
        return self._model


def _as_list(values: Any) -> list[Any]:
    if type(values) is list:
        return values
    tolist = getattr(values, "tolist", None)
    return tolist() if callable(tolist) else list(values)
