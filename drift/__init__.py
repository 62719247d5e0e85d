"""Drift and data-quality engine: reference profiles, mergeable window counts, calibrated
verdicts. The batch ``modeltel check`` and the collector's streaming processor share it.

    profile = build_profile(frame, model="m", version="1")      # or Profile.load(path)
    window = WindowCounts(profile)
    window.add({"age": ages, "city": cities}, weights=1 / sample_rates)
    report = evaluate(window)                                     # ModelReport
"""

from modeltel.drift.building import build_profile
from modeltel.drift.calibration import Cusum, DriftSettings, Persistence, benjamini_hochberg
from modeltel.drift.counts import FeatureCounts, WindowCounts
from modeltel.drift.evaluation import evaluate
from modeltel.drift.profile import FeatureProfile, Profile, ProfileError, load_directory
from modeltel.drift.report import FeatureReport, ModelReport, MultivariateReport, Quality

__all__ = [
    "Cusum",
    "DriftSettings",
    "FeatureCounts",
    "FeatureProfile",
    "FeatureReport",
    "ModelReport",
    "MultivariateReport",
    "Persistence",
    "Profile",
    "ProfileError",
    "Quality",
    "WindowCounts",
    "benjamini_hochberg",
    "build_profile",
    "evaluate",
    "load_directory",
]
