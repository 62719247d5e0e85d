"""Seeded classifier streams with known P(y | x), for the estimation tests and the benchmark.

The "model" is deliberately miscalibrated (overconfident, and biased for the binary one), so
estimation only works if the reference calibration does its job."""

import numpy as np

from modeltel.drift import build_profile

BINARY_TRUE = np.array([2.0, -1.0])
MULTI_TRUE = np.array([[1.5, 0.0, -1.5], [0.0, 1.5, -0.5]])


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def features(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    """Two normal features; ``shift`` moves the first one's mean (covariate shift)."""
    return rng.normal(0.0, 1.0, (n, 2)) + np.array([shift, 0.0])


def binary(rng: np.random.Generator, x: np.ndarray, concept: np.ndarray = BINARY_TRUE):
    """(labels, model proba (n, 2)): labels from ``concept``, the model overconfident x3 with a bias."""
    truth = 1 / (1 + np.exp(-(x @ concept)))
    y = (rng.random(x.shape[0]) < truth).astype(int)
    score = 1 / (1 + np.exp(-(3.0 * (x @ BINARY_TRUE) + 0.5)))
    return y, np.column_stack([1 - score, score])


def multiclass(rng: np.random.Generator, x: np.ndarray, concept: np.ndarray = MULTI_TRUE):
    """(labels 0..2, model proba (n, 3)): the model's logits are the true ones x2.5."""
    truth = _softmax(x @ concept)
    y = (rng.random((x.shape[0], 1)) >= np.cumsum(truth, axis=1)[:, :-1]).sum(axis=1)
    return y, _softmax(2.5 * (x @ MULTI_TRUE))


def reference_profile(kind: str, n: int = 20_000, seed: int = 0):
    """A labelled reference profile of ``kind`` ("binary" / "multiclass") with proba_ columns."""
    rng = np.random.default_rng(seed)
    x = features(rng, n)
    y, proba = (binary if kind == "binary" else multiclass)(rng, x)
    data = {"x0": x[:, 0], "x1": x[:, 1], "label": y, "prediction": proba.argmax(axis=1)}
    data.update({f"proba_{c}": proba[:, c] for c in range(proba.shape[1])})
    return build_profile(data, target_column="label", prediction_columns=["prediction"])
