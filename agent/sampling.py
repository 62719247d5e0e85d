"""Head sampling of predictions, decided by the prediction id alone.

A prediction is kept when the first 64 bits of its id, read as an unsigned integer, are below
``rate * 2**64``. Anyone holding the id and the rate can recompute the decision, so a label
recorded days later is sent exactly when its prediction was. Inside a request whose trace
the agent started at the same rate, ids are drawn so that this decision equals the trace's:
kept predictions always have their trace, and each is still kept with probability ``rate``.
"""

import random

FULL = 1 << 64  # the bound of rate 1: every id is below it


_thresholds: dict[float, int] = {}


def threshold(rate: float) -> int:
    bound = _thresholds.get(rate)
    if bound is None:
        bound = round(min(max(rate, 0.0), 1.0) * FULL)
        if len(_thresholds) < 64:  # a process uses one or two rates
            _thresholds[rate] = bound
    return bound


def is_sampled(prediction_id: str, rate: float) -> bool:
    bound = threshold(rate)
    if bound >= FULL:
        return True
    try:
        return int(prediction_id[:16], 16) < bound
    except ValueError:
        return False


def new_prediction_id(bound: int, keep: bool | None = None) -> str:
    """128 random bits as 32 hex digits; with ``keep`` given, drawn to sample that way."""
    high, low = random.getrandbits(64), random.getrandbits(64)
    if keep is True and bound < FULL and bound > 0:
        high %= bound
    elif keep is False and bound < FULL:
        high = bound + high % (FULL - bound)
    return f"{high:016x}{low:016x}"


def new_prediction_ids(count: int, bound: int, keep: bool | None = None) -> list[str]:
    """``count`` ids as ``new_prediction_id`` draws them, in one call (a batch's rows)."""
    getrandbits = random.getrandbits
    if keep is True and 0 < bound < FULL:
        return [f"{getrandbits(64) % bound:016x}{getrandbits(64):016x}" for _ in range(count)]
    if keep is False and bound < FULL:
        span = FULL - bound
        return [f"{bound + getrandbits(64) % span:016x}{getrandbits(64):016x}" for _ in range(count)]
    return [f"{getrandbits(64):016x}{getrandbits(64):016x}" for _ in range(count)]
