"""Replacing a class's predict-like methods with ones that report to the capture core.

A wrapped method keeps its name, docstring and signature (``functools.wraps``) and is
marked so that no class is wrapped twice, whichever hook (the scikit-learn subclass hook,
a library's own installer, an explicit re-install) gets to it first. Methods only live on
classes, so pickled models are unaffected.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from modeltel.agent import capture
from modeltel.agent.capture import Describe, call_mode

_log = logging.getLogger("modeltel.agent")
MARK = "__modeltel_wrapped__"

# True while a library trains or evaluates, or runs its own parallel jobs: predict-like calls
# made there (a forest's trees in joblib threads, cross-validation folds, ``score``) are
# the library's own work, not predictions it serves.
_quiet: ContextVar[bool] = ContextVar("modeltel_quiet", default=False)


def quietly(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with capture switched off while it runs (in this context)."""
    if getattr(function, MARK, False):
        return function

    @functools.wraps(function)
    def unobserved(*args: Any, **kwargs: Any) -> Any:
        if _quiet.get():
            return function(*args, **kwargs)
        token = _quiet.set(True)
        try:
            return function(*args, **kwargs)
        finally:
            _quiet.reset(token)

    setattr(unobserved, MARK, True)
    return unobserved


def wrap_function(function: Callable[..., Any], method: str, describe: Describe) -> Callable[..., Any]:
    if getattr(function, MARK, False):
        return function

    @functools.wraps(function)
    def observed(self: Any, *args: Any, **kwargs: Any) -> Any:
        if call_mode.get() or _quiet.get():  # inside an observed call, or the library's own work
            return function(self, *args, **kwargs)
        return capture.observe(self, method, function, (self, *args), kwargs, describe)

    setattr(observed, MARK, True)
    return observed


def wrap_method(cls: type, method: str, describe: Describe | None, *, inherited: bool = False) -> bool:
    """Wrap ``cls.method`` in place if ``cls`` defines it itself (or ``inherited``, in which
    case the inherited function is wrapped onto ``cls``): observed with ``describe``, or
    made quiet when ``describe`` is None. True when something was wrapped."""
    attribute = cls.__dict__.get(method)
    if attribute is None and inherited:
        attribute = getattr(cls, method, None)
    if attribute is None:
        return False
    if _is_available_if(attribute):
        # scikit-learn's ``available_if`` (Pipeline.predict_proba...): wrap the function it
        # guards, so ``hasattr(model, "predict_proba")`` keeps asking the guard.
        if not getattr(attribute.fn, MARK, False):
            attribute.fn = _wrapped(attribute.fn, method, describe)
            return True
        return False
    if callable(attribute) and not isinstance(attribute, (staticmethod, classmethod, type)):
        if getattr(attribute, MARK, False):
            return False
        setattr(cls, method, _wrapped(attribute, method, describe))
        return True
    return False


def _wrapped(function: Callable[..., Any], method: str, describe: Describe | None) -> Callable[..., Any]:
    return quietly(function) if describe is None else wrap_function(function, method, describe)


def _is_available_if(attribute: Any) -> bool:
    return type(attribute).__name__ == "_AvailableIfDescriptor" and callable(getattr(attribute, "fn", None))


def wrap_methods(cls: type, methods: Iterable[str], describe: Describe | None) -> None:
    """Wrap each of ``methods`` where ``cls`` finds it: on ``cls`` or on the base or mixin
    that defines it (scikit-learn's ``LogisticRegression.predict`` comes from
    ``LinearClassifierMixin``, which is not an estimator class itself)."""
    for method in methods:
        try:
            owner = next((k for k in cls.__mro__ if method in k.__dict__), None)
            if owner is not None and owner is not object:
                wrap_method(owner, method, describe)
        except Exception:
            _log.debug("modeltel could not wrap %s.%s", cls.__qualname__, method, exc_info=True)


def subclasses(root: type) -> list[type]:
    """``root`` and every class derived from it so far, each once."""
    seen: dict[type, None] = {}
    pending = [root]
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen[cls] = None
        try:
            pending.extend(type.__subclasses__(cls))
        except TypeError:
            continue
    return list(seen)
