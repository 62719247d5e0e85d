"""examples/retrain_webhook.py as a real process: Alertmanager's v4 payload in, one idempotent
retraining request per model version out; bad tokens and malformed payloads are refused and
queue nothing. (The end-to-end test feeds it a notification real Alertmanager sent.)"""

import hashlib
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import BIN, EXAMPLES, ModelServer, clean_env
from tests.examples.retrain_consumer import launch_retrain_webhook

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def alert(alertname: str, status: str = "firing", category: str = "drift", **labels: str) -> dict:
    return {
        "status": status,
        "labels": {"alertname": alertname, "severity": "warning", "category": category, **labels},
        "annotations": {
            "summary": "s",
            "description": "d",
            "runbook_url": f"docs/alerts.md#{alertname.lower()}",
        },
        "startsAt": "2026-12-01T08:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
        "fingerprint": hashlib.sha256(repr((alertname, sorted(labels.items()))).encode()).hexdigest()[:16],
    }


def notification(*alerts: dict, status: str = "firing") -> dict:
    return {
        "version": "4",
        "groupKey": '{}/{category=~"drift|performance"}:{alertname="ModelFeatureDrift"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "retrain-webhook",
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


@pytest.fixture
def consumer(tmp_path: Path) -> tuple[ModelServer, Path]:
    server, queue = launch_retrain_webhook(tmp_path, TOKEN)
    yield server, queue
    server.process.stop()


def queued(queue: Path) -> list[dict]:
    return [json.loads(line) for line in queue.read_text().splitlines()] if queue.exists() else []


def test_drift_notification_queues_one_request_per_model_version_once(consumer) -> None:
    server, queue = consumer
    body = notification(
        alert("ModelFeatureDrift", ml_model_name="churn", ml_model_version="3", feature="x1"),
        alert("ModelFeatureDrift", ml_model_name="churn", ml_model_version="3", feature="x0"),
        alert("ModelFeatureDrift", ml_model_name="churn", ml_model_version="4", feature="x0"),
    )
    first = httpx.post(f"{server.url}/alerts", json=body, headers=AUTH)
    assert first.status_code == 200, first.text
    outcome = first.json()
    assert [(r["model"], r["version"], r["features"]) for r in outcome["queued"]] == [
        ("churn", "3", ["x0", "x1"]),
        ("churn", "4", ["x0"]),
    ]
    assert outcome["queued"][0]["reasons"] == ["ModelFeatureDrift"]
    assert outcome["queued"][0]["runbooks"] == ["docs/alerts.md#modelfeaturedrift"]
    assert [r["request_id"] for r in queued(queue)] == [r["request_id"] for r in outcome["queued"]]
    # Alertmanager repeats the same notification: nothing new is queued.
    again = httpx.post(f"{server.url}/alerts", json=body, headers=AUTH).json()
    assert again == {"queued": [], "duplicates": 2, "ignored": 0}
    assert len(queued(queue)) == 2


def test_resolved_and_other_categories_are_ignored(consumer) -> None:
    server, queue = consumer
    body = notification(
        alert(
            "ModelFeatureDrift", status="resolved", ml_model_name="churn", ml_model_version="3", feature="x0"
        ),
        alert("ModelServerErrorRate", category="serving", exported_job="churn"),
        alert("ModelDatasetDrift", category="drift"),  # no model label: nothing to retrain
    )
    outcome = httpx.post(f"{server.url}/alerts", json=body, headers=AUTH).json()
    assert outcome == {"queued": [], "duplicates": 0, "ignored": 3}
    assert queued(queue) == []


BAD_TOKENS = [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
MALFORMED = {
    "old version": {**notification(alert("ModelFeatureDrift")), "version": "3"},
    "alerts not a list": {**notification(alert("ModelFeatureDrift")), "alerts": "not a list"},
    "alert without fields": {**notification(alert("ModelFeatureDrift")), "alerts": [{"status": "firing"}]},
    "bad status": {**notification(alert("ModelFeatureDrift")), "status": "maybe"},
    "not an object": [1, 2, 3],
}


def test_bad_tokens_and_malformed_payloads_are_refused_clearly_and_queue_nothing(consumer) -> None:
    server, queue = consumer
    body = notification(alert("ModelFeatureDrift", ml_model_name="churn", ml_model_version="3", feature="x0"))
    for headers in BAD_TOKENS:
        response = httpx.post(f"{server.url}/alerts", json=body, headers=headers)
        assert response.status_code == 401 and "token" in response.json()["detail"], headers
    for name, malformed in MALFORMED.items():
        response = httpx.post(f"{server.url}/alerts", json=malformed, headers=AUTH)
        assert response.status_code == 422, name
        assert response.json()["detail"][0]["loc"][0] == "body", name  # says where it is wrong
    not_json = {**AUTH, "Content-Type": "application/json"}
    assert httpx.post(f"{server.url}/alerts", content=b"{not json", headers=not_json).status_code == 422
    assert queued(queue) == []
    # The server is unharmed: a good notification still goes through.
    assert len(httpx.post(f"{server.url}/alerts", json=body, headers=AUTH).json()["queued"]) == 1


def test_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    args = [
        str(BIN / "uvicorn"),
        "--factory",
        "retrain_webhook:app_from_environment",
        "--app-dir",
        str(EXAMPLES),
    ]
    completed = subprocess.run(
        [*args, "--port", "0"], capture_output=True, text=True, timeout=60, env=clean_env()
    )
    assert completed.returncode != 0
    assert "MODELTEL_RETRAIN_TOKEN must be set" in completed.stderr
