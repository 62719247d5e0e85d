"""``modeltel replay --label-column`` into a running collector: a regressor on the diabetes set
(shipped with scikit-learn), its predictions and their labels as OTLP records, the exported
regression metrics equal scikit-learn's on the same rows; a replay repeated is idempotent."""

import secrets
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

from tests.collector.processors.performance.otlp_events import with_performance
from tests.conftest import BIN, clean_env, launch_collector, wait_until


def replay(path: Path, endpoint: str) -> None:
    args = [str(BIN / "modeltel"), "replay", str(path), "--model", "diabetes", "--version", "2",
            "--id-column", "request_id", "--timestamp-column", "scored_at", "--label-column", "progression",
            "--endpoint", endpoint]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, env=clean_env(), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_replayed_labels_give_scikit_learn_regression_metrics(tmp_path: Path) -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    train_x, test_x, train_y, test_y = train_test_split(x, y, test_size=0.5, random_state=4)
    predicted = Ridge(alpha=0.5).fit(train_x, train_y).predict(test_x)
    frame = test_x.copy()
    frame["prediction"] = predicted
    frame["progression"] = test_y.to_numpy()
    frame["request_id"] = [secrets.token_hex(16) for _ in range(len(frame))]
    now = pd.Timestamp.now(tz="UTC")
    frame["scored_at"] = now - pd.to_timedelta(np.arange(len(frame))[::-1], unit="s")
    unlabelled = frame.index[::7]
    frame.loc[unlabelled, "progression"] = np.nan  # empty cells send no label
    path = tmp_path / "scored.parquet"
    frame.to_parquet(path)

    collector = launch_collector(tmp_path, configure=with_performance())
    try:
        replay(path, collector.otlp_http)
        labelled = frame.drop(index=unlabelled)
        want = len(labelled) / len(frame)

        def realized() -> dict[str, float]:
            coverage = collector.value(
                "modeltel_label_coverage_ratio", ml_model_name="diabetes", window="30d"
            )
            if coverage != pytest.approx(want):
                return {}
            return {
                s.labels["metric"]: s.value
                for s in collector.samples()
                if s.name == "modeltel_model_performance" and s.labels["window"] == "30d"
            }

        exported = wait_until(realized, what="replayed labels joined")
        truth, guess = labelled["progression"].to_numpy(), labelled["prediction"].to_numpy()
        assert exported == pytest.approx({
            "mae": sk.mean_absolute_error(truth, guess),
            "rmse": np.sqrt(sk.mean_squared_error(truth, guess)),
            "r2": sk.r2_score(truth, guess),
            "mape": sk.mean_absolute_percentage_error(truth, guess),
        }, rel=1e-9)  # fmt: skip
        replay(path, collector.otlp_http)  # the same file again: every row a duplicate
        wait_until(
            lambda: collector.value("modeltel_performance_predictions_duplicate_total") == len(frame),
            what="duplicates counted",
        )
        assert collector.value("modeltel_labels_duplicate_total", conflicting="false") == len(labelled)
        assert collector.value("modeltel_join_store_predictions") == len(frame)
    finally:
        collector.process.stop()
