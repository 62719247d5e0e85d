"""Issue-5 acceptance through issue 4's replay: a drifted file replayed with its timestamps
into a collector with a reference profile is flagged by the streaming drift processor, on the
drifted features only."""

import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.csv

from tests.collector.processors.drift_streams import sample, write_profile
from tests.collector.processors.test_drift_collector import live_times, windows_closed, with_drift
from tests.conftest import BIN, clean_env, launch_collector


def test_replayed_drifted_file_is_flagged_by_the_streaming_processor(tmp_path: Path) -> None:
    write_profile(tmp_path / "profiles")
    collector = launch_collector(tmp_path, configure=with_drift(profiles_dir=str(tmp_path / "profiles")))
    try:
        rows = sample(3000, seed=7, drifted=True)
        rows = {name: values for name, values in rows.items() if not name.startswith("proba_")}
        rows["ts"] = live_times(3000, seed=7).tolist()  # epoch nanoseconds, within the current window
        data = tmp_path / "scored.csv"
        pyarrow.csv.write_csv(pa.table(rows), data)
        replay = subprocess.run(
            [str(BIN / "modeltel"), "replay", str(data), "--model", "churn", "--version", "3",
             "--timestamp-column", "ts", "--endpoint", collector.otlp_http],
            env=clean_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert replay.returncode == 0, replay.stderr
        report = windows_closed(collector, 1)["window"]["report"]
        flagged = set(report["drifted_features"])
        assert {"x0", "city"} <= flagged
        assert not flagged & {"x1", "x2", "x3", "x4", "x5"}
        assert report["records"] == 3000
        assert collector.value("modeltel_feature_drift", feature="x0", window="2s") == 1
    finally:
        collector.process.stop()
