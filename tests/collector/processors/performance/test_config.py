"""The performance processor's configuration: in the default pipeline after drift, durations
parsed, and every bad key named in the error."""

import pytest
import yaml

from modeltel.collector.config import DEFAULT_CONFIG_YAML, ConfigError, build_config, load_config
from modeltel.collector.factories import builtin_factories

FACTORIES = builtin_factories()


def test_default_pipeline_runs_performance_after_drift() -> None:
    config = load_config(None, FACTORIES)
    assert config.pipelines["logs"].processors == ["predictions", "drift", "performance"]
    performance = config.processors["performance"].config
    assert (performance.prediction_ttl, performance.label_ttl) == (30 * 86400, 86400)
    assert performance.windows == [86400, 7 * 86400, 30 * 86400]
    assert performance.state_dir is None


def with_performance(settings: dict) -> dict:
    document = yaml.safe_load(DEFAULT_CONFIG_YAML)
    document["processors"]["performance"] = settings
    return document


def test_durations_and_windows_sorted() -> None:
    config = build_config(with_performance({"windows": ["7d", "1h"], "label_ttl": "90m"}), FACTORIES)
    performance = config.processors["performance"].config
    assert (performance.windows, performance.label_ttl) == ([3600, 7 * 86400], 5400)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"windows": ["1d", "24h"]}, "processors.performance.windows: Value error, windows must be distinct"),
        ({"windows": []}, "processors.performance.windows"),
        ({"prediction_ttl": "soon"}, "processors.performance.prediction_ttl"),
        ({"max_predictions": 0}, "processors.performance.max_predictions"),
        ({"segment_by": [f"a{i}" for i in range(9)]}, "processors.performance.segment_by"),
        ({"window": "1h"}, "processors.performance.window: Extra inputs are not permitted"),
    ],
)
def test_bad_settings_name_the_key(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build_config(with_performance(settings), FACTORIES)
