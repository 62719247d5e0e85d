"""Capture core: one model call becomes a span, metrics and a prediction record per row.

Framework hooks call ``observe``; it runs the original method, and only the outermost
observed call records (a Pipeline's ``predict`` calls its final estimator's, a classifier's
``predict`` often calls its own ``predict_proba``). The original method's result or
exception reaches the caller unchanged; nothing of the agent's own raises into the host.
"""

import logging
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any, Protocol

from modeltel.agent.model_call import ModelCall, ModelIdentity

_log = logging.getLogger("modeltel.agent")
_inside_model_call: ContextVar[bool] = ContextVar("modeltel_inside_model_call", default=False)
OTHER_CLASS = "_other"


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
    if _inside_model_call.get():
        return function(*args, **kwargs)
    from modeltel.agent.telemetry import pipeline as pipelines

    pipeline = pipelines.current()
    if pipeline is None and not _listeners:
        return function(*args, **kwargs)
    token = _inside_model_call.set(True)
    try:
        call = _Call.begin(pipeline, model, method)
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
        _inside_model_call.reset(token)


class _Call:
    """The telemetry of one observed call: its span, then metrics and records at the end."""

    __slots__ = ("_detach", "attributes", "identity", "pipeline", "span", "time_ns")

    def __init__(
        self, pipeline: Any, identity: ModelIdentity, span: Any, detach: Any, attributes: dict
    ) -> None:
        self.pipeline, self.identity, self.span, self._detach = pipeline, identity, span, detach
        self.attributes = attributes
        self.time_ns = time.time_ns()

    @classmethod
    def begin(cls, pipeline: Any, model: Any, method: str) -> "_Call | None":
        if pipeline is None:
            return None
        try:
            from opentelemetry import context, trace

            from modeltel.agent.model_registry import identity as identify
            from modeltel.agent.telemetry.spans import start_span

            identity = identify(model)
            attributes: dict[str, Any] = {"ml.model.name": identity.name}
            if identity.version is not None:
                attributes["ml.model.version"] = identity.version
            parent = trace.get_current_span().get_span_context()
            span = start_span(
                "model.predict", parent, trace.SpanKind.INTERNAL, {**attributes, "ml.model.method": method},
                pipeline.put_span, pipeline.trace_bound,
            )  # fmt: skip
            token = context.attach(trace.set_span_in_context(span))
            return cls(pipeline, identity, span, token, tuple(attributes.items()))
        except Exception:
            _log.exception("modeltel could not start recording a model call")
            return None

    def failed(self, error: BaseException, duration_ns: int) -> None:
        try:
            from opentelemetry.trace import StatusCode

            instruments = self.pipeline.instruments
            attributes = (*self.attributes, ("error.type", type(error).__qualname__))
            instruments.model_errors.add(1, attributes)
            instruments.inference_duration.record(duration_ns / 1e9, attributes, *self._trace_ids())
            self.span.record_exception(error)
            self.span.set_status(StatusCode.ERROR, f"{type(error).__qualname__}: {error}")
        except Exception:
            _log.exception("modeltel could not record a failed model call")
        finally:
            self.end()

    def succeeded(self, call: ModelCall | None, duration_ns: int) -> None:
        instruments = self.pipeline.instruments
        instruments.inference_duration.record(duration_ns / 1e9, self.attributes, *self._trace_ids())
        if call is None:
            return
        self.span.set_attribute("ml.model.batch_size", call.rows)
        predictions = _as_list(call.predictions) if call.predictions is not None else [None] * call.rows
        self._count(predictions, call.probabilities is not None)
        if call.rows == 0:
            return
        from modeltel.agent.prediction_log import emit_predictions
        from modeltel.agent.request_context import current_request

        request = current_request.get()
        ids = emit_predictions(
            self.pipeline, self.identity, call.feature_names, _as_list(call.features), predictions,
            _as_list(call.probabilities) if call.probabilities is not None else None,
            self.span.get_span_context(), request, self.time_ns,
        )  # fmt: skip
        if request is not None:
            request.prediction_ids.extend(ids)

    def _count(self, predictions: Sequence[Any], classified: bool) -> None:
        """Predictions by predicted class; regression values get no class label."""
        counter = self.pipeline.instruments.predictions
        if not classified and not any(isinstance(p, (str, bool, int)) for p in predictions[:1]):
            counter.add(len(predictions), self.attributes)
            return
        counts: dict[str, int] = {}
        for prediction in predictions:
            label = str(prediction)
            counts[label] = counts.get(label, 0) + 1
        for label, count in counts.items():
            counter.add(
                count, (*self.attributes, ("ml.model.predicted_class", _bounded_class(self.identity, label)))
            )

    def _trace_ids(self) -> tuple[int, int]:
        """The span's ids for an exemplar, when the span is sampled."""
        span_context = self.span.get_span_context()
        if span_context.trace_flags.sampled:
            return span_context.trace_id, span_context.span_id
        return 0, 0

    def end(self) -> None:
        if self._detach is None:
            return
        from opentelemetry import context

        context.detach(self._detach)
        self._detach = None
        self.span.end()


_classes_seen: dict[ModelIdentity, set[str]] = {}


def _bounded_class(identity: ModelIdentity, label: str) -> str:
    """At most ``max_classes`` distinct class labels per model reach the metrics; the rest
    are counted as ``_other`` (a model predicting free text must not explode cardinality)."""
    from modeltel.agent import settings

    seen = _classes_seen.setdefault(identity, set())
    if label in seen:
        return label
    if len(seen) >= settings.current().max_classes:
        return OTHER_CLASS
    seen.add(label)
    return label


def _as_list(values: Any) -> list[Any]:
    tolist = getattr(values, "tolist", None)
    return tolist() if callable(tolist) else list(values)
