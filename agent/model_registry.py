"""Which name and version a model's telemetry carries.

Precedence, first match wins (docs/agent.md, "Capture without code changes"):

1. ``register_model(obj, name=..., version=...)`` for that very object;
2. ``MODELTEL_MODEL_NAME`` / ``MODELTEL_MODEL_VERSION`` for every model of the process
   (either may be set alone; the other part then comes from the next rule);
3. the model itself (``model_class_name``): its class name, ``Pipeline(<final step>)`` for
   a scikit-learn Pipeline, and for an ONNX Runtime session the graph name of the loaded model (what the
   exporter wrote, e.g. skl2onnx's ``ONNX(LogisticRegression)``), else its file name.

Registrations never keep a model alive: entries are keyed by ``id`` and dropped by a
``weakref.finalize`` when the model is collected; an object that cannot be weakly
referenced is held strongly instead (registration is explicit and rare, so that is bounded
by what the host registers).
"""

from __future__ import annotations

import contextlib
import os
import weakref
from dataclasses import dataclass
from typing import Any

from modeltel.agent.model_call import ModelIdentity

NAME_VARIABLE = "MODELTEL_MODEL_NAME"
VERSION_VARIABLE = "MODELTEL_MODEL_VERSION"


@dataclass(frozen=True)
class _Registration:
    identity: ModelIdentity
    feature_names: tuple[str, ...] | None


# id(model) -> (weak or strong reference, registration); the reference guards against id reuse.
_registered: dict[int, tuple[Any, _Registration]] = {}
_derived: weakref.WeakKeyDictionary[Any, ModelIdentity] = weakref.WeakKeyDictionary()
_environment: tuple[str | None, str | None] | None = None
# Bumped whenever a model's identity may have changed (a registration, a re-read environment),
# so callers that cache ``identity`` per model (the capture core) know to ask again.
generation = 0


def register_model(
    obj: Any, *, name: str, version: str | None = None, feature_names: list[str] | None = None
) -> Any:
    """Label ``obj``'s captured calls with ``name``/``version``; returns ``obj`` for chaining.

    ``feature_names`` names the columns of unnamed inputs (numpy arrays, an ONNX session's
    single 2-D input) when their width matches; a DataFrame's own columns still win.
    """
    global generation
    if not isinstance(name, str) or not name:
        raise ValueError("register_model needs a non-empty model name")
    generation += 1
    registration = _Registration(
        ModelIdentity(name, None if version is None else str(version)),
        None if feature_names is None else tuple(str(n) for n in feature_names),
    )
    key = id(obj)
    try:
        reference: Any = weakref.ref(obj)
    except TypeError:  # not weakly referenceable: keep it alive so its id stays its own
        _registered[key] = (lambda: obj, registration)
        return obj
    previous = _registered.get(key)
    _registered[key] = (reference, registration)
    if previous is None or previous[0]() is not obj:
        weakref.finalize(obj, _registered.pop, key, None)
    return obj


def _registration(model: Any) -> _Registration | None:
    entry = _registered.get(id(model))
    if entry is None or entry[0]() is not model:
        return None
    return entry[1]


def registered_feature_names(model: Any) -> tuple[str, ...] | None:
    registration = _registration(model)
    return None if registration is None else registration.feature_names


def identity(model: Any) -> ModelIdentity:
    """Name and version for ``model`` by the precedence in this module's docstring."""
    registration = _registration(model)
    if registration is not None:
        return registration.identity
    env_name, env_version = _environment_identity()
    if env_name is not None and env_version is not None:
        return ModelIdentity(env_name, env_version)
    own = _own_identity(model)
    return ModelIdentity(env_name or own.name, env_version if env_version is not None else own.version)


def _environment_identity() -> tuple[str | None, str | None]:
    global _environment
    if _environment is None:
        _environment = (
            os.environ.get(NAME_VARIABLE) or None,
            os.environ.get(VERSION_VARIABLE) or None,
        )
    return _environment


def reset_environment_cache() -> None:
    """Re-read the environment on next use (tests, or a host that sets it late)."""
    global _environment, generation
    _environment = None
    generation += 1


def _own_identity(model: Any) -> ModelIdentity:
    cls = type(model)
    if cls.__name__ == "InferenceSession":
        try:
            cached = _derived.get(model)
        except TypeError:
            cached = None
        if cached is None:
            cached = _onnx_identity(model)
            with contextlib.suppress(TypeError):
                _derived[model] = cached
        return cached
    return ModelIdentity(model_class_name(model))


def model_class_name(model: Any) -> str:
    """The class name, with what actually predicts for wrappers and boosters.

    A Pipeline is named by its final step, ``Pipeline(LogisticRegression)``: the step that
    predicts, and a name that survives adding a preprocessing step. A fitted search
    (``GridSearchCV``) by its best estimator. A Booster by its library,
    ``xgboost.Booster`` / ``lightgbm.Booster``.
    """
    cls = type(model)
    name = cls.__name__
    if name == "Booster":
        return f"{cls.__module__.partition('.')[0]}.{name}"
    steps = getattr(model, "steps", None)
    if name == "Pipeline" and isinstance(steps, list) and steps:
        final = steps[-1][1] if isinstance(steps[-1], tuple) and len(steps[-1]) == 2 else None
        if final is not None and final != "passthrough":
            return f"{name}({model_class_name(final)})"
    best = model.__dict__.get("best_estimator_") if hasattr(model, "__dict__") else None
    if best is not None:
        return f"{name}({model_class_name(best)})"
    return name


def _onnx_identity(session: Any) -> ModelIdentity:
    graph_name = version = None
    try:
        meta = session.get_modelmeta()
        graph_name = meta.graph_name or None
        version = str(meta.version) if meta.version else None
    except Exception:
        pass
    if graph_name is None:
        path = getattr(session, "_model_path", None)
        if isinstance(path, (str, os.PathLike)):
            graph_name = os.path.splitext(os.path.basename(os.fspath(path)))[0] or None
    return ModelIdentity(graph_name or type(session).__name__, version)
