"""The alerting files of deploy/, loaded once for the tests: rule groups, promtool tests, the
Alertmanager config."""

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.conftest import REPO

RULES_DIR = REPO / "deploy" / "prometheus" / "rules"
RULE_TESTS_DIR = REPO / "deploy" / "prometheus" / "tests"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
RULE_TEST_FILES = sorted(RULE_TESTS_DIR.glob("*.yml"))
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus.yml"
ALERTMANAGER_DIR = REPO / "deploy" / "alertmanager"
ALERTMANAGER_CONFIG = ALERTMANAGER_DIR / "alertmanager.yml"
ENTRYPOINT = ALERTMANAGER_DIR / "entrypoint.sh"
ALERTS_DOC = REPO / "docs" / "alerts.md"
SECRETS_DIR = "/etc/alertmanager/secrets"


@dataclass(frozen=True)
class Rule:
    name: str  # alert name, or the recorded series' name
    expr: str
    source: Path
    raw: dict

    @property
    def is_alert(self) -> bool:
        return "alert" in self.raw


def rules() -> list[Rule]:
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for raw in group["rules"]:
                found.append(Rule(raw.get("alert") or raw["record"], raw["expr"], path, raw))
    return found


def alerts() -> list[Rule]:
    return [rule for rule in rules() if rule.is_alert]


def rule_test_cases() -> list[tuple[str, bool]]:
    """(alertname, fires) for every alert_rule_test of every promtool test file."""
    cases = []
    for path in RULE_TEST_FILES:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.append((case["alertname"], bool(case.get("exp_alerts"))))
    return cases


def doc_anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def alertmanager_config() -> dict:
    return yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
