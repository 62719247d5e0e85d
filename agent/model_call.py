"""What one call of a model's predict-like method produced, framework-neutral.

Framework hooks (``modeltel.agent.frameworks``) describe a call with ``ModelCall``; the
capture core (``modeltel.agent.capture``) turns it into a span, metrics and one prediction
log record per row. Keeping this boundary plain data lets each side be tested on its own.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelIdentity:
    """Name and version a model's telemetry is labelled with (precedence in docs/agent.md)."""

    name: str
    version: str | None = None


@dataclass(slots=True)
class ModelCall:
    """One predict-like call: ``rows`` inputs and, after the call, one output per row.

    ``features`` holds the rows as a 2-D sequence (numpy array or list of lists) in the
    order of ``feature_names``; ``predictions[i]`` is row i's class label, score,
    regression value or list (multi-output); ``probabilities[i]``, when the method
    returns them, maps class label to probability (or is a list in class order).
    """

    method: str
    feature_names: list[str]
    features: Any
    rows: int
    predictions: Sequence[Any] | None = None
    probabilities: Sequence[Any] | None = None
    # Added for framework capture (optional, at the end so positional construction still works):
    # ``scores[i]`` is row i's decision-function value or raw booster output (a number, or a
    # list per class); ``objective`` is a booster's training objective, which says whether
    # its raw outputs are margins or probabilities (" (margin)" appended when the call
    # asked for margins).
    scores: Sequence[Any] | None = None
    objective: str | None = None
