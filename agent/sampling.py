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


LOW_BITS = FULL - 1


def new_prediction_id(bound: int, keep: bool | None = None) -> str:
    """128 random bits as 32 hex digits; with ``keep`` given, drawn to sample that way.

    One ``getrandbits(128)`` and ``bytes.hex``: half the cost of formatting two 64-bit halves
    with ``:016x``, on a path every prediction takes."""
    bits = random.getrandbits(128)
    if keep is True and 0 < bound < FULL:
        bits = ((bits >> 64) % bound) << 64 | (bits & LOW_BITS)
    elif keep is False and bound < FULL:
        bits = (bound + (bits >> 64) % (FULL - bound)) << 64 | (bits & LOW_BITS)
    return bits.to_bytes(16, "big").hex()


def new_prediction_ids(count: int, bound: int, keep: bool | None = None) -> list[str]:
    """``count`` ids as ``new_prediction_id`` draws them, in one call (a batch's rows)."""
    getrandbits = random.getrandbits
    if keep is True and 0 < bound < FULL:
        return [
            (((bits >> 64) % bound) << 64 | (bits & LOW_BITS)).to_bytes(16, "big").hex()
            for bits in (getrandbits(128) for _ in range(count))
        ]
    if keep is False and bound < FULL:
        span = FULL - bound
        return [
            ((bound + (bits >> 64) % span) << 64 | (bits & LOW_BITS)).to_bytes(16, "big").hex()
            for bits in (getrandbits(128) for _ in range(count))
        ]
    return [getrandbits(128).to_bytes(16, "big").hex() for _ in range(count)]
