"""Head sampling decided by the prediction id: deterministic, at the stated rate, consistent."""

import math

import numpy as np
import pytest

from modeltel.agent import sampling


def test_the_decision_is_a_function_of_the_id_alone() -> None:
    ids = [sampling.new_prediction_id(sampling.threshold(1.0)) for _ in range(1000)]
    first = [sampling.is_sampled(i, 0.3) for i in ids]
    assert first == [sampling.is_sampled(i, 0.3) for i in ids]
    assert all(sampling.is_sampled(i, 1.0) for i in ids)
    assert not any(sampling.is_sampled(i, 0.0) for i in ids)


@pytest.mark.parametrize("rate", [0.01, 0.1, 0.5])
def test_kept_fraction_matches_the_rate(rate: float) -> None:
    n = 100_000
    kept = sum(
        sampling.is_sampled(sampling.new_prediction_id(sampling.threshold(1.0)), rate) for _ in range(n)
    )
    sd = math.sqrt(n * rate * (1 - rate))
    assert abs(kept - n * rate) < 5 * sd  # a 5-sigma band: fails by chance about once in 1.7 million runs


@pytest.mark.parametrize("rate", [0.001, 0.1, 0.9])
def test_ids_drawn_for_a_decision_agree_with_it_and_stay_uniform(rate: float) -> None:
    bound = sampling.threshold(rate)
    kept = [sampling.new_prediction_id(bound, keep=True) for _ in range(2000)]
    dropped = [sampling.new_prediction_id(bound, keep=False) for _ in range(2000)]
    assert all(sampling.is_sampled(i, rate) for i in kept)
    assert not any(sampling.is_sampled(i, rate) for i in dropped)
    # Low halves stay uniformly random: the first hex digit of the low half is about flat.
    digits = np.array([int(i[16], 16) for i in kept + dropped])
    counts = np.bincount(digits, minlength=16)
    assert counts.min() > 4000 / 16 * 0.6


def test_ids_are_32_lowercase_hex_and_unique() -> None:
    ids = {sampling.new_prediction_id(sampling.threshold(0.5)) for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 32 and int(i, 16) >= 0 and i == i.lower() for i in ids)
