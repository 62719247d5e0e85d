"""The agent's own settings: environment variables, optionally a YAML file, never an exception.

``MODELTEL_CONFIG`` names a YAML file with the same settings in lower case (see
docs/agent.md); an environment variable wins over the file. A bad value is logged and
replaced by its default, because a typo in monitoring settings must not stop a model server.
"""

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_log = logging.getLogger("modeltel.agent")


@dataclass(frozen=True)
class FeaturePolicy:
    """Which features leave the process, and which leave only as keyed hashes."""

    allow: frozenset[str] | None = None  # None: every feature not denied
    deny: frozenset[str] = frozenset()
    hash: frozenset[str] = frozenset()
    hash_key: bytes | None = None

    @property
    def is_open(self) -> bool:
        return self.allow is None and not self.deny and not self.hash


@dataclass(frozen=True)
class AgentSettings:
    sample_rate: float = 1.0
    traces_sample_rate: float = 1.0
    capture_models: bool = True
    prediction_id_header: bool = True
    max_classes: int = 50
    # gc.freeze() at the first request: start-up objects leave the collector's generations,
    # so full collections stop walking them. Off by default: it changes the host's GC.
    gc_freeze: bool = False
    features: FeaturePolicy = field(default_factory=FeaturePolicy)


def _names(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else list(value)
    return frozenset(str(item).strip() for item in items if str(item).strip())


def _rate(name: str, value: Any, default: float) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        _log.warning("modeltel: %s=%r is not a number; using %s", name, value, default)
        return default
    if not 0.0 <= rate <= 1.0:
        _log.warning("modeltel: %s=%r is outside [0, 1]; using %s", name, value, default)
        return default
    return rate


def _flag(name: str, value: Any, default: bool) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    _log.warning("modeltel: %s=%r is not a boolean; using %s", name, value, default)
    return default


def _file_settings(path: str) -> dict[str, Any]:
    try:
        import yaml

        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle) or {}
    except (OSError, ValueError) as error:
        _log.warning(
            "modeltel: cannot read MODELTEL_CONFIG=%s (%s); using environment and defaults", path, error
        )
        return {}
    except Exception as error:  # yaml.YAMLError and friends
        _log.warning("modeltel: MODELTEL_CONFIG=%s is not valid YAML (%s); ignoring it", path, error)
        return {}
    if not isinstance(document, dict):
        _log.warning("modeltel: MODELTEL_CONFIG=%s must hold a mapping; ignoring it", path)
        return {}
    return document


def load(environ: Mapping[str, str] = os.environ) -> AgentSettings:
    file = _file_settings(environ["MODELTEL_CONFIG"]) if environ.get("MODELTEL_CONFIG") else {}
    features = file.get("features") or {}
    if not isinstance(features, dict):
        _log.warning("modeltel: 'features' in MODELTEL_CONFIG must be a mapping; ignoring it")
        features = {}

    def pick(env_name: str, file_value: Any) -> Any:
        value = environ.get(env_name)
        return value if value is not None and value.strip() != "" else file_value

    sample_rate = _rate(
        "MODELTEL_SAMPLE_RATE", pick("MODELTEL_SAMPLE_RATE", file.get("sample_rate", 1.0)), 1.0
    )
    traces_rate = pick("MODELTEL_TRACES_SAMPLE_RATE", file.get("traces_sample_rate"))
    allow = pick("MODELTEL_FEATURES_ALLOW", features.get("allow"))
    key = pick("MODELTEL_HASH_KEY", None)
    hashed = _names(pick("MODELTEL_FEATURES_HASH", features.get("hash")))
    if hashed and not key:
        _log.warning(
            "modeltel: features %s are hashed without MODELTEL_HASH_KEY; plain SHA-256 of a "
            "low-entropy value can be reversed by guessing. Set a secret MODELTEL_HASH_KEY.",
            sorted(hashed),
        )
    traces = (
        sample_rate if traces_rate is None else _rate("MODELTEL_TRACES_SAMPLE_RATE", traces_rate, sample_rate)
    )
    capture = pick("MODELTEL_CAPTURE_MODELS", file.get("capture_models", True))
    return AgentSettings(
        sample_rate=sample_rate,
        traces_sample_rate=traces,
        capture_models=_flag("MODELTEL_CAPTURE_MODELS", capture, True),
        prediction_id_header=_flag(
            "MODELTEL_PREDICTION_ID_HEADER",
            pick("MODELTEL_PREDICTION_ID_HEADER", file.get("prediction_id_header", True)),
            True,
        ),
        gc_freeze=_flag(
            "MODELTEL_GC_FREEZE", pick("MODELTEL_GC_FREEZE", file.get("gc_freeze", False)), False
        ),
        features=FeaturePolicy(
            allow=None if allow is None else _names(allow),
            deny=_names(pick("MODELTEL_FEATURES_DENY", features.get("deny"))),
            hash=hashed,
            hash_key=key.encode() if key else None,
        ),
    )  # fmt: skip


_current: AgentSettings | None = None


def current() -> AgentSettings:
    """Read once per process, on first use."""
    global _current
    if _current is None:
        _current = load()
    return _current
