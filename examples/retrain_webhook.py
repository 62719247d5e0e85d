"""Example consumer of modeltel's drift and performance alerts: turns Alertmanager webhook
notifications into retraining requests, one per model version, appended to a JSON Lines queue
that a training job polls.

    MODELTEL_RETRAIN_TOKEN=secret MODELTEL_RETRAIN_QUEUE=/var/lib/retrain/requests.jsonl \\
        uvicorn --factory retrain_webhook:app_from_environment --app-dir examples --port 9095

Alertmanager (deploy/alertmanager/alertmanager.yml, receiver ``retrain-webhook``) posts its
webhook JSON, version 4, with ``Authorization: Bearer <MODELTEL_ALERT_WEBHOOK_TOKEN>``; set
MODELTEL_RETRAIN_TOKEN to the same value. The payload and the labels this relies on are
documented in docs/alerts.md ("Webhook payload"). Alertmanager repeats a notification every
``repeat_interval`` and on every change of its group, so requests are idempotent: the same
firing alerts (fingerprint and start time) never queue a second request.
"""

import hashlib
import hmac
import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field

# Alerts that ask for a retraining: the rules' `category` label (deploy/prometheus/rules).
RETRAIN_CATEGORIES = frozenset({"drift", "performance"})


class Alert(BaseModel):
    """One alert of Alertmanager's webhook payload (version 4)."""

    model_config = ConfigDict(extra="ignore")
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime
    endsAt: datetime
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1)


class Notification(BaseModel):
    """Alertmanager's webhook payload, version 4 (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)."""

    model_config = ConfigDict(extra="ignore")
    version: Literal["4"]
    groupKey: str
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: str
    groupLabels: dict[str, str]
    commonLabels: dict[str, str]
    commonAnnotations: dict[str, str] = {}
    externalURL: str
    alerts: list[Alert]


class RetrainRequest(BaseModel):
    """What the training job reads: which model version, why, and which alerts asked."""

    request_id: str
    model: str
    version: str
    reasons: list[str]  # alert names, e.g. ModelDatasetDrift
    features: list[str]  # drifted features named by the alerts, if any
    fingerprints: list[str]
    first_alert_at: datetime
    requested_at: datetime
    runbooks: list[str]


class Outcome(BaseModel):
    queued: list[RetrainRequest]
    duplicates: int  # requests already in the queue (Alertmanager repeating itself)
    ignored: int  # resolved alerts, other categories, alerts without a model


def retrain_requests(notification: Notification, now: datetime) -> tuple[list[RetrainRequest], int]:
    """One request per (model, version) among the notification's firing retrain alerts."""
    wanted: dict[tuple[str, str], list[Alert]] = {}
    ignored = 0
    for alert in notification.alerts:
        model, version = alert.labels.get("ml_model_name"), alert.labels.get("ml_model_version")
        if alert.status != "firing" or alert.labels.get("category") not in RETRAIN_CATEGORIES or not model:
            ignored += 1
            continue
        wanted.setdefault((model, version or ""), []).append(alert)
    requests = []
    for (model, version), alerts in sorted(wanted.items()):
        identity = sorted(f"{a.fingerprint}@{a.startsAt.isoformat()}" for a in alerts)
        digest = hashlib.sha256(json.dumps([model, version, identity]).encode()).hexdigest()[:24]
        requests.append(
            RetrainRequest(
                request_id=digest,
                model=model,
                version=version,
                reasons=sorted({a.labels["alertname"] for a in alerts if "alertname" in a.labels}),
                features=sorted({a.labels["feature"] for a in alerts if "feature" in a.labels}),
                fingerprints=sorted({a.fingerprint for a in alerts}),
                first_alert_at=min(a.startsAt for a in alerts),
                requested_at=now,
                runbooks=sorted(
                    {a.annotations["runbook_url"] for a in alerts if "runbook_url" in a.annotations}
                ),
            )
        )
    return requests, ignored


class RequestQueue:
    """Append-only JSON Lines file; the ids already in it make appends idempotent."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _known_ids(self) -> set[str]:
        if not self.path.exists():
            return set()
        lines = self.path.read_text().splitlines()
        return {json.loads(line)["request_id"] for line in lines if line.strip()}

    def add(self, requests: list[RetrainRequest]) -> tuple[list[RetrainRequest], int]:
        with self._lock:
            known = self._known_ids()
            new = [request for request in requests if request.request_id not in known]
            if new:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a") as queue:
                    queue.writelines(request.model_dump_json() + "\n" for request in new)
            return new, len(requests) - len(new)


def create_app(token: str, queue_path: Path) -> FastAPI:
    if not token:
        raise ValueError("MODELTEL_RETRAIN_TOKEN must be set: the webhook accepts only Alertmanager")
    app = FastAPI(title="retraining webhook")
    queue = RequestQueue(queue_path)

    @app.post("/alerts")
    def receive(notification: Notification, authorization: str = Header(default="")) -> Outcome:
        if not hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
            raise HTTPException(status_code=401, detail="bad or missing bearer token")
        requests, ignored = retrain_requests(notification, datetime.now(timezone.utc))
        queued, duplicates = queue.add(requests)
        return Outcome(queued=queued, duplicates=duplicates, ignored=ignored)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def app_from_environment() -> FastAPI:
    """The app configured by MODELTEL_RETRAIN_TOKEN and MODELTEL_RETRAIN_QUEUE (uvicorn --factory)."""
    return create_app(
        os.environ.get("MODELTEL_RETRAIN_TOKEN", ""),
        Path(os.environ.get("MODELTEL_RETRAIN_QUEUE", "retrain-requests.jsonl")),
    )
