"""Model performance: realized metrics from joined labels, label-free estimation from
calibrated probabilities, the profile's baseline, and per-segment (fairness) metrics.

    metrics = classification_metrics(labels, predictions, proba, classes=classes, weights=1 / rates)
    estimator = PerformanceEstimator.from_profile(profile)       # None without a labelled reference
    estimates = estimator.estimate(proba, weights=1 / rates)      # {"accuracy": Estimate(...), ...}
"""

from modeltel.performance.baseline import PerformanceProfile, performance_of
from modeltel.performance.calibration import CalibrationMap
from modeltel.performance.estimation import Estimate, PerformanceEstimator, estimation_gap
from modeltel.performance.labels import PerformanceInputError, class_labels, label_keys, proba_matrix
from modeltel.performance.realized import classification_metrics, regression_metrics

__all__ = [
    "CalibrationMap",
    "Estimate",
    "PerformanceEstimator",
    "PerformanceInputError",
    "PerformanceProfile",
    "class_labels",
    "classification_metrics",
    "estimation_gap",
    "label_keys",
    "performance_of",
    "proba_matrix",
    "regression_metrics",
]
