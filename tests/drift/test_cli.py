"""``modeltel profile build`` and ``modeltel check`` as users run them: real processes on real
CSV and Parquet files; exit codes, JSON content, the HTML report, and bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def modeltel(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "modeltel", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def _frame(seed: int, n: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40 + shift, 10, n),
            "income": rng.lognormal(10, 1, n),
            "plan": rng.choice(["free", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
            "visits": rng.poisson(3, n),
            "user_id": np.arange(n),
            "prediction": rng.random(n),
            "label": rng.integers(0, 2, n),
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("check")
    paths = {
        "ref_parquet": root / "ref.parquet",
        "ref_csv": root / "ref.csv",
        "same": root / "same.csv",
        "drifted": root / "drifted.parquet",
    }
    _frame(0, 20_000).to_parquet(paths["ref_parquet"])
    _frame(0, 20_000).to_csv(paths["ref_csv"], index=False)
    _frame(1, 10_000).to_csv(paths["same"], index=False)
    _frame(2, 10_000, shift=3.0).to_parquet(paths["drifted"])
    profile = root / "profile.json"
    done = modeltel(
        "profile", "build", paths["ref_parquet"], "-o", profile, "--model", "churn", "--version", "7",
        "--prediction-column", "prediction", "--target-column", "label", "--categorical", "visits",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    paths["profile"] = profile
    return paths


def test_profile_build_parquet(files) -> None:
    profile = json.loads(files["profile"].read_text())
    assert (profile["model"], profile["version"], profile["rows"]) == ("churn", "7", 20_000)
    features = {f["name"]: f for f in profile["features"]}
    kinds = {name: (f["kind"], f["role"]) for name, f in features.items()}
    assert kinds == {
        "age": ("numeric", "feature"),
        "income": ("numeric", "feature"),
        "plan": ("categorical", "feature"),
        "visits": ("categorical", "feature"),
        "user_id": ("identifier", "feature"),
        "prediction": ("numeric", "prediction"),
        "label": ("discrete", "target"),
    }
    age = features["age"]["numeric"]
    assert 15 <= len(age["edges"]) <= 19 and sum(age["counts"]) == 20_000
    assert set(features["plan"]["categorical"]["categories"]) == {"free", "pro", "team"}
    assert files["profile"].stat().st_size < 50_000


def test_profile_build_csv_matches_parquet(files, tmp_path) -> None:
    out = tmp_path / "csv.json"
    done = modeltel("profile", "build", files["ref_csv"], "-o", out, "--exclude", "user_id,label")
    assert done.returncode == 0, done.stderr
    assert "age:numeric" in done.stdout
    csv = json.loads(out.read_text())
    parquet = json.loads(files["profile"].read_text())
    csv_age = next(f for f in csv["features"] if f["name"] == "age")["numeric"]
    pq_age = next(f for f in parquet["features"] if f["name"] == "age")["numeric"]
    assert csv_age["edges"] == pytest.approx(pq_age["edges"])
    assert [f["name"] for f in csv["features"]] == ["age", "income", "plan", "visits", "prediction"]


def test_check_same_distribution_passes(files) -> None:
    done = modeltel("check", "--profile", files["profile"], files["same"], "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["drifted_features"] == [] and not report["dataset_drift"]
    names = [f["name"] for f in report["features"]]
    assert names == ["age", "income", "plan", "visits", "user_id", "prediction", "label"]
    for feature in report["features"]:
        for key in ("drifted", "score", "threshold", "p_value", "statistic", "quality"):
            assert key in feature
        assert {"missing_ratio", "out_of_range_ratio", "new_category_ratio", "type_error_ratio"} <= set(
            feature["quality"]
        )
    assert report["features"][4]["tested"] is False  # ids are schema only


def test_check_drift_exit_codes(files) -> None:
    drifted = modeltel("check", "--profile", files["profile"], files["drifted"], "--format", "json")
    assert drifted.returncode == 1
    report = json.loads(drifted.stdout)
    assert report["drifted_features"] == ["age"]
    age = report["features"][0]
    assert age["drifted"] and age["score"] >= age["threshold"] and age["p_value"] < 1e-10
    never = modeltel("check", "-p", files["profile"], files["drifted"], "--fail-on", "never")
    assert never.returncode == 0 and "DRIFT" in never.stdout


def test_check_fail_on_quality(files, tmp_path) -> None:
    frame = _frame(3, 5_000)
    frame.loc[:499, "income"] = np.nan
    path = tmp_path / "holes.csv"
    frame.to_csv(path, index=False)
    assert modeltel("check", "-p", files["profile"], path).returncode == 0
    done = modeltel("check", "-p", files["profile"], path, "--fail-on", "quality")
    assert done.returncode == 1
    assert "missing_ratio" in done.stdout


def test_check_html_histograms(files, tmp_path) -> None:
    out = tmp_path / "report.html"
    done = modeltel(
        "check", "-p", files["profile"], files["drifted"], "-f", "html", "-o", out, "--fail-on", "never"
    )
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 6  # every tested column
    assert 'id="feature-age"' in page and "reference" in page and "<rect" in page
    for external in ("<script", "<link", "src=", "http://", "https://"):
        assert external not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_bad_input(files, tmp_path) -> None:
    missing = modeltel("check", "-p", files["profile"], tmp_path / "nope.csv")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    unreadable = modeltel("check", "-p", files["profile"], garbage)
    assert unreadable.returncode == 2 and "cannot read as Parquet" in unreadable.stderr
    not_profile = modeltel("check", "-p", files["same"], files["same"])
    assert not_profile.returncode == 2 and "not JSON" in not_profile.stderr
    wrong_json = tmp_path / "wrong.json"
    wrong_json.write_text('{"features": 3}')
    wrong = modeltel("check", "-p", wrong_json, files["same"])
    assert wrong.returncode == 2 and "not a modeltel profile" in wrong.stderr
    other = tmp_path / "other.csv"
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_csv(other, index=False)
    mismatch = modeltel("check", "-p", files["profile"], other)
    assert mismatch.returncode == 2 and "profile mismatch" in mismatch.stderr
    no_column = modeltel(
        "profile", "build", files["ref_csv"], "-o", tmp_path / "x.json", "--categorical", "nope"
    )
    assert no_column.returncode == 2 and "no such column: nope" in no_column.stderr
    bad_format = modeltel("check", "-p", files["profile"], files["same"], "--format", "xml")
    assert bad_format.returncode == 2


def test_wrong_types_in_a_file_are_quality_not_a_crash(files, tmp_path) -> None:
    frame = _frame(4, 2_000).astype({"age": object})
    frame.loc[:99, "age"] = "forty"
    frame.loc[100:109, "age"] = "inf"
    path = tmp_path / "types.csv"
    frame.to_csv(path, index=False)
    done = modeltel("check", "-p", files["profile"], path, "-f", "json", "--fail-on", "quality")
    assert done.returncode == 1, done.stderr
    age = json.loads(done.stdout)["features"][0]
    assert age["quality"]["type_error_ratio"] == pytest.approx(0.05)
    assert age["quality"]["nonfinite_ratio"] == pytest.approx(0.005)
    assert "type_errors" in age["quality"]["issues"]
    assert not age["drifted"]  # the 1,890 valid ages are still N(40, 10)
