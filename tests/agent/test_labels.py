"""Ground truth: record_label sends a modeltel.label event exactly for the sampled predictions."""

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import Collector, agent_env, attribute_map, exported_log_records, wait_until

SCRIPT = """
import json, sys
from modeltel.agent import record_label, record_prediction
row = lambda i: {"x": float(i), "city": "Berlin"}
ids = [record_prediction(row(i), i % 2, model="churn", version="7") for i in range(200)]
sent = [record_label(i, int(i[-1], 16) % 2, model="churn", version="7") for i in ids]
bad = [record_label("not-an-id", 1), record_label("0" * 31, 1)]
print(json.dumps({"ids": ids, "sent": sent, "bad": bad}))
"""


def events(collector: Collector, name: str) -> list[dict]:
    return [r for _, r in exported_log_records(collector.process.log()) if r.get("eventName") == name]


def run_script(collector: Collector, tmp_path: Path, **env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=agent_env(collector, **env), capture_output=True, text=True,
        timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_labels_join_their_predictions_and_follow_their_sampling(
    detailed_collector: Collector, tmp_path: Path
) -> None:
    out = run_script(detailed_collector, tmp_path, MODELTEL_SAMPLE_RATE="0.5")
    assert out["bad"] == [False, False]
    expected = sum(out["sent"])
    assert 50 < expected < 150  # about half, by the ids
    wait_until(
        lambda: len(events(detailed_collector, "modeltel.label")) == expected, what=f"{expected} labels"
    )
    predictions = events(detailed_collector, "modeltel.prediction")
    labels = events(detailed_collector, "modeltel.label")
    prediction_ids = {attribute_map(r["attributes"])["modeltel.prediction.id"] for r in predictions}
    label_ids = {attribute_map(r["attributes"])["modeltel.prediction.id"] for r in labels}
    # Every label sent has its prediction sent, and the other way round: sampling by id agrees.
    assert label_ids == prediction_ids
    assert label_ids == {i for i, sent in zip(out["ids"], out["sent"], strict=True) if sent}
    for record in labels:
        attributes = attribute_map(record["attributes"])
        assert attributes["ml.model.name"] == "churn" and attributes["ml.model.version"] == "7"
        assert attributes["modeltel.sample_rate"] == 0.5
        body = json.loads(record["body"]["stringValue"])
        assert body == {"label": int(attributes["modeltel.prediction.id"][-1], 16) % 2}
    for record in predictions:
        assert json.loads(record["body"]["stringValue"])["features"]["city"] == "Berlin"


def test_privacy_settings_apply_before_records_leave(detailed_collector: Collector, tmp_path: Path) -> None:
    run_script(
        detailed_collector,
        tmp_path,
        MODELTEL_FEATURES_HASH="city",
        MODELTEL_HASH_KEY="k",
        MODELTEL_SAMPLE_RATE="1",
    )
    wait_until(lambda: len(events(detailed_collector, "modeltel.prediction")) == 200, what="200 predictions")
    features = [
        json.loads(r["body"]["stringValue"])["features"]
        for r in events(detailed_collector, "modeltel.prediction")
    ]
    assert {f["city"] for f in features} != {"Berlin"} and len({f["city"] for f in features}) == 1
    assert all(len(f["city"]) == 32 for f in features)
