"""The Prometheus rules and the Alertmanager config, checked with the tools that read them:
promtool (syntax, unit tests, the compose config), amtool (config, routing), and the secrets
entrypoint run for real."""

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, require_binary
from tests.deploy.alerting_files import (
    ALERTMANAGER_CONFIG,
    ALERTS_DOC,
    ENTRYPOINT,
    PROMETHEUS_CONFIG,
    RULE_FILES,
    RULE_TEST_FILES,
    SECRETS_DIR,
    alertmanager_config,
    alerts,
    doc_anchors,
    rule_test_cases,
    rules,
)

SEVERITIES = {"critical", "warning"}
CATEGORIES = {"drift", "data_quality", "performance", "serving", "collector"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=REPO, env=env)


def test_rule_files_pass_promtool_check() -> None:
    completed = run(require_binary("promtool"), "check", "rules", *map(str, RULE_FILES))
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_promtool_unit_tests_pass() -> None:
    completed = run(require_binary("promtool"), "test", "rules", *map(str, RULE_TEST_FILES))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.count("SUCCESS") == len(RULE_TEST_FILES)


def test_compose_prometheus_config_loads_every_rule_file_and_alertmanager() -> None:
    completed = run(require_binary("promtool"), "check", "config", str(PROMETHEUS_CONFIG))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in completed.stdout
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    [manager] = config["alerting"]["alertmanagers"]
    assert manager["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    cases = rule_test_cases()
    firing = {name for name, fires in cases if fires}
    quiet = {name for name, fires in cases if not fires}
    names = {alert.name for alert in alerts()}
    assert names - firing == set(), "alerts without a firing promtool case"
    assert names - quiet == set(), "alerts without a non-firing promtool case"
    assert {name for name, _ in cases} <= names, "promtool cases for alerts that do not exist"


def test_every_alert_is_labelled_annotated_and_documented() -> None:
    anchors = doc_anchors(ALERTS_DOC.read_text())
    names = [alert.name for alert in alerts()]
    assert len(names) == len(set(names)), "alert names must be unique"
    for alert in alerts():
        labels, annotations = alert.raw["labels"], alert.raw["annotations"]
        assert labels["severity"] in SEVERITIES, alert.name
        assert labels["category"] in CATEGORIES, alert.name
        assert {"summary", "description", "runbook_url"} <= set(annotations), alert.name
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page == "docs/alerts.md" and anchor == alert.name.lower(), alert.name
        assert anchor in anchors, f"docs/alerts.md has no section {alert.name}"


def test_recording_rules_are_namespaced_and_documented() -> None:
    doc = ALERTS_DOC.read_text()
    for rule in rules():
        if not rule.is_alert:
            assert rule.name.startswith("modeltel:") and rule.name.count(":") == 2, rule.name
            assert f"`{rule.name}`" in doc, f"docs/alerts.md does not describe {rule.name}"


def test_alertmanager_config_passes_amtool() -> None:
    completed = run(require_binary("amtool"), "check-config", str(ALERTMANAGER_CONFIG))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 templates" in completed.stdout  # templates/ resolved and parsed


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=ModelFeatureDrift", "severity=warning", "category=drift"], "retrain-webhook,slack-ml"),
        (["alertname=ModelPerformanceBelowBaseline", "severity=critical", "category=performance"],
         "retrain-webhook,oncall"),
        (["alertname=ModelServerErrorRate", "severity=critical", "category=serving"], "oncall"),
        (["alertname=ModeltelAgentDroppingTelemetry", "severity=warning", "category=collector"], "slack-ml"),
        (["alertname=Unknown"], "slack-ml"),
    ],
)  # fmt: skip
def test_routing_by_category_and_severity(labels: list[str], receivers: str) -> None:
    completed = run(
        require_binary("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.strip() == receivers


def test_every_alert_reaches_a_receiver_that_is_not_only_the_default() -> None:
    """Every rule's severity has its own route, so no alert falls through unnoticed."""
    routes = alertmanager_config()["route"]["routes"]
    routed = {matcher for route in routes for matcher in route["matchers"]}
    for alert in alerts():
        assert f'severity="{alert.raw["labels"]["severity"]}"' in routed, alert.name


def test_dataset_drift_inhibits_feature_drift_of_the_same_model_version() -> None:
    inhibitions = alertmanager_config()["inhibit_rules"]
    assert {
        "source_matchers": ['alertname="ModelDatasetDrift"'],
        "target_matchers": ['alertname="ModelFeatureDrift"'],
        "equal": ["ml_model_name", "ml_model_version"],
    } in inhibitions
    names = {alert.name for alert in alerts()}
    for rule in inhibitions:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            wanted = matcher.split('"')[1].split("|")
            assert set(wanted) <= names, f"inhibition names an alert that does not exist: {matcher}"


def secret_files(node: object) -> set[str]:
    """Every *_file value of the Alertmanager config."""
    if isinstance(node, dict):
        found = {value for key, value in node.items() if key.endswith("_file") and isinstance(value, str)}
        return found.union(*(secret_files(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(secret_files(value) for value in node))
    return set()


def test_entrypoint_writes_every_secret_the_config_reads(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    env = {
        "PATH": os.environ["PATH"],
        "MODELTEL_ALERT_SECRETS_DIR": str(secrets),
        "MODELTEL_ALERT_SLACK_API_URL": "http://127.0.0.1:9/slack-hook",
        "MODELTEL_ALERT_WEBHOOK_TOKEN": "token with spaces & $dollars",
    }
    completed = run("sh", str(ENTRYPOINT), "sh", "-c", 'echo "started: $0"', "alertmanager", env=env)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "started: alertmanager\n"  # the command given is exec'd
    assert "MODELTEL_ALERT_SMTP_PASSWORD is not set" in completed.stderr
    assert (secrets / "slack_api_url").read_text() == "http://127.0.0.1:9/slack-hook"
    assert (secrets / "webhook_token").read_text() == "token with spaces & $dollars"  # verbatim, no newline
    assert (secrets / "smtp_password").read_text() == ""
    for path in secrets.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    referenced = secret_files(alertmanager_config())
    assert referenced, "the config reads no secret file"
    written = {f"{SECRETS_DIR}/{path.name}" for path in secrets.iterdir()}
    assert referenced <= written, "the config reads a secret the entrypoint does not write"


def test_compose_mounts_the_rules_and_alertmanager_files_where_the_configs_expect_them() -> None:
    completed = run(require_binary("docker-compose"), "-f", "docker-compose.yml", "config")
    assert completed.returncode == 0, completed.stderr
    services = yaml.safe_load(completed.stdout)["services"]

    def binds(service: dict) -> dict[str, str]:
        """Mount target -> repository path, for the bind mounts of one service."""
        found = {}
        for entry in service["volumes"]:
            source, target, *_ = entry.split(":")
            if source.startswith("/"):
                found[target] = str(Path(source).relative_to(REPO))
        return found

    prometheus = binds(services["prometheus"])
    config_dir = Path(next(t for t, s in prometheus.items() if s == "deploy/prometheus.yml")).parent
    for pattern in yaml.safe_load(PROMETHEUS_CONFIG.read_text())["rule_files"]:
        assert prometheus[str(config_dir / Path(pattern).parent)] == "deploy/prometheus/rules"
    alertmanager = services["alertmanager"]
    mounted = {source: target for target, source in binds(alertmanager).items()}
    config_target = next(
        a.split("=", 1)[1] for a in alertmanager["command"] if a.startswith("--config.file=")
    )
    assert mounted.get("deploy/alertmanager") == str(Path(config_target).parent)  # templates/ beside it
    assert alertmanager["entrypoint"][-1] == f"{Path(config_target).parent}/entrypoint.sh"
    assert SECRETS_DIR in alertmanager["tmpfs"]
    assert set(alertmanager["environment"]) == {
        "MODELTEL_ALERT_SLACK_API_URL", "MODELTEL_ALERT_SMTP_PASSWORD", "MODELTEL_ALERT_WEBHOOK_TOKEN",
    }  # fmt: skip
    webhook = services["retrain-webhook"]["environment"]
    assert webhook["MODELTEL_RETRAIN_TOKEN"] == alertmanager["environment"]["MODELTEL_ALERT_WEBHOOK_TOKEN"]
    [receiver] = [r for r in alertmanager_config()["receivers"] if r["name"] == "retrain-webhook"]
    assert receiver["webhook_configs"][0]["url"] == "http://retrain-webhook:9095/alerts"
    assert "9095" in " ".join(services["retrain-webhook"]["command"])
