"""The analyzer's environment (docs/contracts.md §5 variables plus ours, all with defaults)."""

from __future__ import annotations

import pytest

from analyzer.config import Settings
from analyzer.errors import ConfigError


def test_defaults_with_only_rules_path() -> None:
    s = Settings.from_env({"RULES_PATH": "rules/dev.yaml", "UNRELATED": "x"})
    assert s.rules_path == "rules/dev.yaml"
    assert (s.input_prefix, s.output_prefix, s.results_prefix) == ("images/", "analyzed/", "results/")
    assert s.topic_arn is None and s.idempotency_table is None and s.bucket_name is None
    assert s.notify_verdicts == {"success", "failure", "review"}
    assert s.max_workers == 10 and s.delete_source is True and s.tracing is False
    assert s.limits.max_bytes == 15 * 1024 * 1024


def test_values_are_read_and_normalised() -> None:
    s = Settings.from_env({
        "RULES_PATH": "r.yaml", "TOPIC_ARN": "arn:aws:sns:eu-west-1:1:t", "INPUT_PREFIX": "in",
        "OUTPUT_PREFIX": "/out", "IDEMPOTENCY_TABLE": "idem", "NOTIFY_VERDICTS": "Failure; review",
        "MAX_WORKERS": "3", "DELETE_SOURCE": "false", "REKOGNITION_RETRY_MODE": "adaptive",
    })
    assert (s.input_prefix, s.output_prefix) == ("in/", "out/")
    assert s.notify_verdicts == {"failure", "review"}
    assert s.max_workers == 3 and s.delete_source is False
    assert s.rekognition_retry_mode == "adaptive"


@pytest.mark.parametrize(("value", "expected"), [("all", {"success", "failure", "review"}),
                                                 ("none", set()), ("success", {"success"})])
def test_notify_verdicts(value: str, expected: set[str]) -> None:
    assert Settings.from_env({"RULES_PATH": "r", "NOTIFY_VERDICTS": value}).notify_verdicts == expected


def test_blank_optional_values_mean_unset() -> None:
    s = Settings.from_env({"RULES_PATH": "r", "TOPIC_ARN": " ", "IDEMPOTENCY_TABLE": ""})
    assert s.topic_arn is None and s.idempotency_table is None


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({}, "RULES_PATH"),
        ({"RULES_PATH": "r", "NOTIFY_VERDICTS": "sucess"}, "NOTIFY_VERDICTS"),
        ({"RULES_PATH": "r", "MAX_WORKERS": "0"}, "MAX_WORKERS"),
        ({"RULES_PATH": "r", "MAX_IMAGE_BYTES": str(16 * 1024 * 1024)}, "MAX_IMAGE_BYTES"),
        ({"RULES_PATH": "r", "REKOGNITION_RETRY_MODE": "legacy"}, "REKOGNITION_RETRY_MODE"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        Settings.from_env(env)


@pytest.mark.parametrize(
    "env",
    [{"OUTPUT_PREFIX": "images/analyzed/"}, {"RESULTS_PREFIX": "images/results"},
     {"INPUT_PREFIX": "analyzed/new/"}],
)
def test_prefixes_that_would_retrigger_the_pipeline_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="trigger the pipeline again"):
        Settings.from_env({"RULES_PATH": "r", **env})
