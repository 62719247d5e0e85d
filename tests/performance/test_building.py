"""The profile's ``performance`` section: what ``build_profile`` stores for labelled
classifier and regressor references, its JSON round trip, old profiles, and bad input."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from modeltel.drift import Profile, ProfileError, build_profile
from modeltel.performance import PerformanceEstimator, classification_metrics, performance_of
from modeltel.performance.calibration import MAX_KNOTS
from tests.performance import simulation as sim


def _wine_reference(names: bool = False) -> dict:
    X, y = load_wine(return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.6, random_state=0)
    model = GaussianNB().fit(Xa, ya)
    labels = np.array(["barolo", "grignolino", "barbera"]) if names else np.arange(3)
    proba = model.predict_proba(Xb)
    data = {f"f{i}": Xb[:, i] for i in range(3)}
    data.update(label=labels[yb], prediction=labels[model.predict(Xb)])
    data.update({f"proba_{labels[c]}": proba[:, c] for c in range(3)})
    return data


def test_multiclass_section_round_trips() -> None:
    data = _wine_reference(names=True)
    profile = Profile.from_json(build_profile(data, target_column="label").to_json())
    section = performance_of(profile)
    assert section.task == "classification" and section.classes == ["barbera", "barolo", "grignolino"]
    assert section.positive is None and section.rows == len(data["label"])
    proba = np.column_stack([data[f"proba_{c}"] for c in section.classes])
    want = classification_metrics(data["label"], data["prediction"], proba, classes=section.classes)
    assert section.baseline == pytest.approx(want)
    assert set(section.calibration) == set(section.calibration_other) == set(section.classes)
    assert all(len(m.knots) <= MAX_KNOTS for m in section.calibration.values())
    assert set(section.baseline_sd) >= {"accuracy", "f1", "roc_auc"}
    assert section.probability_columns()["barolo"] == "proba_barolo"
    assert PerformanceEstimator.from_profile(profile).classes == section.classes
    # the outputs the baseline read are outputs for drift too, though not named as such
    roles = {f.name: f.role for f in profile.features}
    assert (
        roles["prediction"] == "prediction" and roles["proba_barolo"] == "score" and roles["f0"] == "feature"
    )
    assert roles["label"] == "target"


def test_binary_section_and_positive_class() -> None:
    profile = sim.reference_profile("binary", n=5_000)
    section = profile.performance
    assert section.classes == ["0", "1"] and section.positive == "1" and list(section.calibration) == ["1"]
    values = section.calibration["1"].values
    assert values == sorted(values) and values[0] > 0 and values[-1] < 1  # shrunk off 0/1
    answers = {"y": ["no", "yes", "yes", "no"] * 50, "prediction": ["no", "yes", "no", "no"] * 50}
    flipped = build_profile(answers, target_column="y", positive_class="no")
    assert flipped.performance.positive == "no"
    assert flipped.performance.baseline["recall"] == 1.0


def test_compact_and_old_profiles_load() -> None:
    profile = sim.reference_profile("multiclass", n=20_000)
    text = profile.to_json()
    section_bytes = len(json.dumps(json.loads(text)["performance"]))
    assert section_bytes < 20_000  # 3 classes x 2 maps of <= 100 knots, metrics, band constants
    old = json.loads(text)
    del old["performance"]
    assert Profile.from_json(json.dumps(old)).performance is None
    assert build_profile({"x": np.arange(100.0)}).performance is None


def test_binary_score_prediction_column_is_the_positive_probability() -> None:
    rng = np.random.default_rng(2)
    score = rng.random(2_000)
    label = (rng.random(2_000) < score).astype(int)
    section = build_profile({"label": label, "prediction": score}, target_column="label").performance
    assert section.prediction is None and section.calibration is not None
    assert section.baseline["accuracy"] == pytest.approx(np.mean((score >= 0.5) == label), abs=1e-3)


def test_regression_section() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=3_000)
    y = 3 * x + rng.normal(size=3_000)
    section = build_profile({"x": x, "y": y, "yhat": 3 * x}, target_column="y",
                            prediction_columns=["yhat"]).performance  # fmt: skip
    assert section.task == "regression" and section.calibration is None
    assert section.baseline["rmse"] == pytest.approx(1.0, abs=0.05)
    # band constant: sd of the chunk RMSE x sqrt(rows), so its SE at n rows is ~ 0.71 / sqrt(n)
    assert section.standard_error("rmse", 100) == pytest.approx(0.071, rel=0.5)


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        ({"y": ["a"] * 10, "prediction": ["a"] * 10}, {}, "one class only"),
        ({"y": [1.5, 2.5, 3.5], "x": [1, 2, 3]}, {}, "needs a prediction column"),
        ({"y": ["a", "b"] * 5, "prediction": ["a", "c"] * 5}, {}, "not classes"),
        ({"y": [0, 1, 2] * 5, "proba_0": [0.5] * 15, "proba_1": [0.5] * 15}, {}, "no probability column"),
        ({"y": [None] * 4 + ["a", "b"], "prediction": [None] * 6}, {}, "no reference row"),
        ({"y": ["a", "b"] * 5, "prediction": ["a", "b"] * 5}, {"positive_class": "z"}, "positive class"),
    ],
)
def test_bad_reference_is_a_profile_error(data, kwargs, message) -> None:
    with pytest.raises(ProfileError, match=message):
        build_profile(data, target_column="y", **kwargs)
