"""Seeded data shapes for the drift tests and benchmarks (numpy default_rng only)."""

import numpy as np

ZIPF_CATEGORIES = np.array([f"c{i:04d}" for i in range(2000)], dtype=object)
SMALL_CATEGORIES = np.array(["red", "green", "blue", "black", "white"], dtype=object)
SMALL_WEIGHTS = np.array([0.4, 0.25, 0.15, 0.12, 0.08])


def _zipf(rng: np.random.Generator, n: int) -> np.ndarray:
    ranks = np.arange(1, ZIPF_CATEGORIES.size + 1)
    weights = ranks**-1.1
    return ZIPF_CATEGORIES[rng.choice(ZIPF_CATEGORIES.size, n, p=weights / weights.sum())]


def _with_missing(rng: np.random.Generator, x: np.ndarray, rate: float) -> np.ndarray:
    x = x.astype(np.float64)
    x[rng.random(x.size) < rate] = np.nan
    return x


SHAPES = {
    "normal": lambda rng, n: rng.normal(10.0, 2.0, n),
    "lognormal": lambda rng, n: rng.lognormal(0.0, 1.0, n),
    "bimodal": lambda rng, n: np.where(rng.random(n) < 0.5, rng.normal(-2, 1, n), rng.normal(2, 1, n)),
    "integer": lambda rng, n: rng.poisson(4.0, n),
    "wide_integer": lambda rng, n: rng.integers(0, 500, n),
    "zero_inflated": lambda rng, n: np.where(rng.random(n) < 0.7, 0.0, rng.exponential(3.0, n)),
    "zipf_category": _zipf,
    "small_category": lambda rng, n: SMALL_CATEGORIES[rng.choice(5, n, p=SMALL_WEIGHTS)],
    "missing_2pct": lambda rng, n: _with_missing(rng, rng.normal(size=n), 0.02),
}


def sample(seed: int, n: int) -> dict[str, np.ndarray]:
    """One table of every shape, n rows."""
    rng = np.random.default_rng(seed)
    return {name: make(rng, n) for name, make in SHAPES.items()}
