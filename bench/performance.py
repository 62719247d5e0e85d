"""Performance metrics throughput: modeltel's realized metrics and label-free estimation
against scikit-learn's metric functions on the same rows, printed as rows/s and ratios.

Rows: a seeded binary (string labels "no"/"yes") and a 10-class stream, with sampling
weights. Baseline: the scikit-learn calls that give the same numbers as
``classification_metrics`` (accuracy, precision/recall/F1 of the positive class and macro,
ROC AUC, log loss, and the 10-bin calibration error via ``calibration_curve``; unweighted for
that one, as it takes no weights). modeltel: ``classification_metrics`` (all of them in one
call), then ``PerformanceEstimator.estimate`` (calibration, expected confusion matrix, AUC,
and the simulated bands: ``draws`` label draws over at most 5,000 rows), which has no
scikit-learn counterpart; its rate is printed and its ratio against the scikit-learn realized
baseline given for scale. Runs alternate; medians of ``--repeats``.

    python bench/performance.py [--rows 100000] [--repeats 5]
"""

import argparse
import statistics
import time

import numpy as np
import sklearn.metrics as skm
from sklearn.calibration import calibration_curve

from modeltel.drift import build_profile
from modeltel.performance import PerformanceEstimator, classification_metrics


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make_rows(
    seed: int, rows: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    names = ["no", "yes"] if k == 2 else [f"c{i}" for i in range(k)]
    truth = _softmax(rng.normal(0, 1.5, (rows, k)))
    y = (rng.random((rows, 1)) >= np.cumsum(truth, axis=1)[:, :-1]).sum(axis=1)
    proba = _softmax(np.log(truth) * 1.5)  # an overconfident model
    labels = np.asarray(names)
    weights = 1.0 / rng.choice([0.1, 0.5, 1.0], rows)
    return labels[y], labels[proba.argmax(axis=1)], proba, names, weights


def sklearn_metrics(y, pred, proba, names, w) -> None:
    k = len(names)
    skm.accuracy_score(y, pred, sample_weight=w)
    for average in ("binary", "macro") if k == 2 else ("macro",):
        options = {"pos_label": names[-1]} if average == "binary" else {}
        skm.precision_recall_fscore_support(
            y, pred, average=average, sample_weight=w, zero_division=0, **options
        )
    if k == 2:
        skm.roc_auc_score(y == names[-1], proba[:, 1], sample_weight=w)
        calibration_curve(y == names[-1], proba[:, 1], n_bins=10)
    else:
        skm.roc_auc_score(y, proba, multi_class="ovr", labels=names, sample_weight=w)
        top = proba.argmax(axis=1)
        calibration_curve(np.asarray(names)[top] == y, proba.max(axis=1), n_bins=10)
    skm.log_loss(y, proba, labels=names, sample_weight=w)


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for k in (2, 10):
        y, pred, proba, names, w = make_rows(0, args.rows, k)
        reference = {
            "label": y,
            "prediction": pred,
            **{f"proba_{c}": proba[:, i] for i, c in enumerate(names)},
        }
        estimator = PerformanceEstimator.from_profile(build_profile(reference, target_column="label"))
        got = classification_metrics(y, pred, proba, classes=names, weights=w)
        want = skm.roc_auc_score(y == names[-1], proba[:, 1], sample_weight=w) if k == 2 else (
            skm.roc_auc_score(y, proba, multi_class="ovr", labels=names, sample_weight=w))  # fmt: skip
        assert abs(got["roc_auc"] - want) < 1e-9, (got["roc_auc"], want)
        times: dict[str, list[float]] = {"sklearn": [], "modeltel": [], "estimate": []}
        for _ in range(args.repeats):
            times["sklearn"].append(timed(lambda: sklearn_metrics(y, pred, proba, names, w)))  # noqa: B023
            times["modeltel"].append(
                timed(lambda: classification_metrics(y, pred, proba, classes=names, weights=w))  # noqa: B023
            )
            times["estimate"].append(timed(lambda: estimator.estimate(proba, weights=w, y_pred=pred)))  # noqa: B023
        median = {name: statistics.median(values) for name, values in times.items()}
        print(f"{k} classes, {args.rows:,} weighted rows (medians of {args.repeats}):")
        for label, name in (
            ("scikit-learn metric functions", "sklearn"),
            ("modeltel classification_metrics", "modeltel"),
            ("modeltel estimate (with bands)", "estimate"),
        ):
            ratio = (
                ""
                if name == "sklearn"
                else f"  x{median['sklearn'] / median[name]:.2f} vs scikit-learn realized"
            )
            print(f"  {label:<34}: {median[name]:7.3f} s {args.rows / median[name]:>12,.0f} rows/s{ratio}")


if __name__ == "__main__":
    main()
