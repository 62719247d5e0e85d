"""What a prediction or label value may be in the join store, and how classes are compared.

The store keeps scalars only: strings, integers, floats (booleans become ``"True"``/``"False"``,
the text ``str(class)`` the agent uses for probability keys). Classes compare by the drift
engine's ``category_key`` (integral floats as integers), so a label ``1`` (an int from one
system) and ``1.0`` (a float from another) are the same class. Arrays (multi-output models)
are not supported.
"""

import math
from typing import Any

Scalar = str | int | float
NON_FINITE_TEXT = frozenset({"NaN", "Infinity", "-Infinity"})


def scalar_value(value: Any) -> tuple[Scalar | None, str | None]:
    """The value as the store keeps it, or None and why it cannot be a label or prediction."""
    if value is None:
        return None, "label_missing"
    if isinstance(value, bool):
        return str(value), None
    if isinstance(value, int):
        return value, None
    if isinstance(value, float):
        return (value, None) if math.isfinite(value) else (None, "label_not_finite")
    if isinstance(value, str):
        if value in NON_FINITE_TEXT:
            return None, "label_not_finite"
        return (value, None) if value else (None, "label_missing")
    return None, "label_not_scalar"


def prediction_id_bytes(text: object) -> bytes | None:
    """The 16 bytes of a prediction id: 32 hex digits (any case) or a UUID with dashes."""
    if not isinstance(text, str):
        return None
    digits = text.replace("-", "") if len(text) == 36 else text
    if len(digits) != 32:
        return None
    try:
        value = bytes.fromhex(digits)
    except ValueError:
        return None
    return value if len(value) == 16 else None  # fromhex skips whitespace
