"""Agent settings from the environment and MODELTEL_CONFIG, and what bad values do."""

from pathlib import Path

import pytest

from modeltel.agent.settings import load


def test_defaults() -> None:
    settings = load({})
    assert settings.sample_rate == 1.0 and settings.traces_sample_rate == 1.0
    assert settings.prediction_id_header and settings.capture_models
    assert settings.features.is_open
    assert not settings.gc_freeze  # it changes the host's GC: opt-in only
    assert load({"MODELTEL_GC_FREEZE": "1"}).gc_freeze


def test_environment_variables() -> None:
    settings = load({
        "MODELTEL_SAMPLE_RATE": "0.25", "MODELTEL_FEATURES_DENY": "ssn, email",
        "MODELTEL_FEATURES_ALLOW": "a,b",
        "MODELTEL_FEATURES_HASH": "email", "MODELTEL_HASH_KEY": "k", "MODELTEL_PREDICTION_ID_HEADER": "off",
    })  # fmt: skip
    assert settings.sample_rate == 0.25 and settings.traces_sample_rate == 0.25
    assert settings.features.deny == {"ssn", "email"} and settings.features.allow == {"a", "b"}
    assert settings.features.hash == {"email"} and settings.features.hash_key == b"k"
    assert not settings.prediction_id_header


def test_file_settings_and_environment_precedence(tmp_path: Path) -> None:
    path = tmp_path / "modeltel.yaml"
    path.write_text("sample_rate: 0.5\ntraces_sample_rate: 1\nfeatures:\n  deny: [ssn]\n  hash: [email]\n")
    settings = load({"MODELTEL_CONFIG": str(path), "MODELTEL_SAMPLE_RATE": "0.1"})
    assert settings.sample_rate == 0.1  # the environment wins
    assert settings.traces_sample_rate == 1.0
    assert settings.features.deny == {"ssn"} and settings.features.hash == {"email"}


@pytest.mark.parametrize("value", ["abc", "1.5", "-0.1", "nan"])
def test_a_bad_rate_falls_back_with_a_warning(value: str, caplog: pytest.LogCaptureFixture) -> None:
    assert load({"MODELTEL_SAMPLE_RATE": value}).sample_rate == 1.0
    assert "MODELTEL_SAMPLE_RATE" in caplog.text


def test_an_unreadable_or_invalid_file_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert load({"MODELTEL_CONFIG": str(tmp_path / "missing.yaml")}).sample_rate == 1.0
    bad = tmp_path / "bad.yaml"
    bad.write_text("sample_rate: [unclosed\n")
    assert load({"MODELTEL_CONFIG": str(bad)}).sample_rate == 1.0
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    assert load({"MODELTEL_CONFIG": str(listed)}).sample_rate == 1.0
    assert caplog.text.count("MODELTEL_CONFIG") == 3
