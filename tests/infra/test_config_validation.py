"""Invalid stack config and invalid rules files stop the program at preview with precise
``FILE:LINE: path: message`` lines — a broken file can never be deployed."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.errors import RulesFileError, StackConfigError
from infra.mockrun import ProgramRun, stack_config
from infra.settings import StackSettings, load_settings
from tests.support.paths import ROOT


def _broken_stack_file(tmp_path: Path, stack: str, old: str, new: str) -> Path:
    """Copy the real stack file and break exactly one thing."""
    text = (ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def _issues(path: Path, stack: str) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        load_settings(stack_config(path), stack, path)
    return caught.value.issues


def test_real_stack_files_are_valid() -> None:
    for stack in ("dev", "prod"):
        path = ROOT / f"Pulumi.{stack}.yaml"
        assert isinstance(load_settings(stack_config(path), stack, path), StackSettings)


def test_out_of_range_value_names_file_line_and_key(tmp_path: Path) -> None:
    # GIVEN the dev stack file with a batch size SQS does not accept
    path = _broken_stack_file(tmp_path, "dev", "batchSize: 5", "batchSize: 20000")
    # WHEN / THEN
    line = _line_of(path, "batchSize")
    assert _issues(path, "dev") == [
        f"Pulumi.dev.yaml:{line}: image-pipeline:batchSize: "
        "Input should be less than or equal to 10000"
    ]


def test_typo_in_a_key_is_an_error_not_ignored(tmp_path: Path) -> None:
    path = _broken_stack_file(tmp_path, "dev", "memoryMb: 512", "memoryMB: 512")
    line = _line_of(path, "memoryMB")
    assert _issues(path, "dev") == [
        f"Pulumi.dev.yaml:{line}: image-pipeline:memoryMB: Extra inputs are not permitted"
    ]


def test_nested_subscription_error_points_at_the_item(tmp_path: Path) -> None:
    path = _broken_stack_file(tmp_path, "prod", 'endpoint: "+14155550100"', "endpoint: 555-0100")
    [issue] = _issues(path, "prod")
    line = _line_of(path, "protocol: sms")
    assert issue == (
        f"Pulumi.prod.yaml:{line}: image-pipeline:subscriptions[1]: endpoint '555-0100' is not "
        "a phone number in E.164 form, e.g. +14155550100"
    )


def test_unknown_verdict_in_a_filter(tmp_path: Path) -> None:
    path = _broken_stack_file(tmp_path, "prod", "verdicts: [failure]\n", "verdicts: [failed]\n")
    [issue] = _issues(path, "prod")
    assert re.match(
        r"Pulumi\.prod\.yaml:\d+: image-pipeline:subscriptions\[1\]\.verdicts\[0\]: Input should "
        r"be 'success', 'failure' or 'review'", issue
    )


def test_concurrency_beyond_the_rekognition_quota_is_refused(tmp_path: Path) -> None:
    path = _broken_stack_file(tmp_path, "prod", "maxConcurrency: 5", "maxConcurrency: 50")
    [issue] = _issues(path, "prod")
    assert issue.startswith("Pulumi.prod.yaml: config: maxConcurrency 50 x 4 images in flight")
    assert "= 500 calls/s per API exceeds rekognitionTpsQuota 50; use maxConcurrency <= 5" in issue


def test_force_destroy_refused_in_production(tmp_path: Path) -> None:
    path = _broken_stack_file(tmp_path, "prod", "forceDestroy: false", "forceDestroy: true")
    assert _issues(path, "prod") == [
        "Pulumi.prod.yaml: config: forceDestroy is refused when production is true"
    ]


def test_invalid_log_retention(tmp_path: Path) -> None:
    path = _broken_stack_file(tmp_path, "dev", "logRetentionDays: 7", "logRetentionDays: 10")
    [issue] = _issues(path, "dev")
    assert issue.startswith(f"Pulumi.dev.yaml:{_line_of(path, 'logRetention')}: "
                            "image-pipeline:logRetentionDays: CloudWatch Logs accepts only 1, 3,")


def test_program_fails_at_preview_on_invalid_config(run_with: Callable[..., ProgramRun]) -> None:
    # WHEN the program runs with a batch size SQS only accepts with a batching window
    with pytest.raises(StackConfigError) as caught:
        run_with("dev", batchSize="20", batchingWindowSeconds="0")
    # THEN it stops with the rule in the message
    assert caught.value.issues == [
        "Pulumi.dev.yaml: config: batchSize > 10 needs batchingWindowSeconds >= 1 "
        "(an SQS event source rule)"
    ]


def test_program_refuses_unknown_analyzer_variables(
    run_with: Callable[..., ProgramRun],
) -> None:
    with pytest.raises(StackConfigError) as caught:
        run_with("dev", environment={"MAX_WORKER": "2"})
    assert "image-pipeline:environment.MAX_WORKER: unknown analyzer variable" in str(caught.value)
    with pytest.raises(StackConfigError) as caught:
        run_with("dev", environment={"NOTIFY_VERDICTS": "failure,maybe"})
    assert "NOTIFY_VERDICTS" in str(caught.value) and "maybe" in str(caught.value)


def test_program_accepts_known_analyzer_variables(run_with: Callable[..., ProgramRun]) -> None:
    run = run_with("dev", environment={"NOTIFY_VERDICTS": "failure,review"})
    env = run.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    assert env["NOTIFY_VERDICTS"] == "failure,review"


def test_invalid_rules_file_fails_with_the_validator_messages(
    tmp_path: Path, run_with: Callable[..., ProgramRun]
) -> None:
    # GIVEN the dev rules file with one threshold out of range
    from imgpipe.cli import app

    text = (ROOT / "rules" / "dev.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "dev.yaml"
    broken.write_text(text.replace("min_confidence: 80", "min_confidence: 180", 1), "utf-8")
    # WHEN the program runs with it
    with pytest.raises(RulesFileError) as caught:
        run_with("dev", rulesFile=str(broken))
    # THEN the messages are exactly those of `imgpipe rules validate`
    result = CliRunner().invoke(app, ["rules", "validate", str(broken)])
    assert result.exit_code == 2
    expected = [line for line in result.stderr.splitlines() if line.startswith(str(broken))]
    assert expected and caught.value.issues == expected
    assert re.match(rf"{re.escape(str(broken))}:\d+: rules\[\d+\]\.min_confidence: ", expected[0])


def test_missing_rules_file(run_with: Callable[..., ProgramRun]) -> None:
    with pytest.raises(RulesFileError) as caught:
        run_with("dev", rulesFile="rules/nope.yaml")
    assert caught.value.issues[0].startswith("rules/nope.yaml: file not found")


def test_idempotency_must_outlive_queued_messages(tmp_path: Path) -> None:
    path = _broken_stack_file(tmp_path, "dev", "idempotencyTtlSeconds: 86400",
                              "idempotencyTtlSeconds: 3600")
    assert _issues(path, "dev") == [
        "Pulumi.dev.yaml: config: idempotencyTtlSeconds 3600 < queueRetentionSeconds 86400: a "
        "late duplicate would be processed again"
    ]


CUSTOM_MODELS = ROOT / "tests" / "events" / "rules" / "custom-models.yaml"


def test_custom_model_in_another_region_fails_preview(
    tmp_path: Path, run_with: Callable[..., ProgramRun]
) -> None:
    # GIVEN the custom-models rules with the Custom Labels model moved to us-east-1 (dev: eu-west-1)
    text = CUSTOM_MODELS.read_text(encoding="utf-8")
    model = "arn:aws:rekognition:eu-west-1:123456789012:project/sneakers/"
    assert model in text
    rules = tmp_path / "custom-models.yaml"
    rules.write_text(text.replace(model, model.replace("eu-west-1", "us-east-1")), "utf-8")
    moved = model.replace("eu-west-1", "us-east-1") + "version/sneakers.2026-11-30/1764460800000"
    # WHEN the program runs with it / THEN it stops naming the file, line, rule and both regions
    with pytest.raises(RulesFileError) as caught:
        run_with("dev", rulesFile=str(rules))
    assert caught.value.issues == [
        f"{rules}:{_line_of(rules, 'project_version:')}: rules[1]: rule 'counterfeit-sneaker' "
        f"(custom_labels): the model {moved} is in us-east-1, the stack in eu-west-1 (aws:region); "
        "Rekognition can only call a model in its own region"
    ]


def test_stack_in_another_region_than_its_models_fails_preview() -> None:
    from infra.mockrun import run_program
    from tests.infra.conftest import PROGRAM

    # GIVEN the dev stack moved to us-east-1 with rules whose model and adapter are in eu-west-1
    config = {**stack_config(ROOT / "Pulumi.dev.yaml"), "aws:region": "us-east-1",
              "image-pipeline:rulesFile": str(CUSTOM_MODELS.relative_to(ROOT))}
    with pytest.raises(RulesFileError) as caught:
        run_program("dev", config, PROGRAM)
    # THEN both rules are reported, each on the line of its ARN
    name = "tests/events/rules/custom-models.yaml"
    assert [issue.split(": the model ")[0] for issue in caught.value.issues] == [
        f"{name}:{_line_of(CUSTOM_MODELS, 'project_version:')}: rules[1]: rule 'counterfeit-sneaker' (custom_labels)",
        f"{name}:{_line_of(CUSTOM_MODELS, 'adapter:')}: rules[2]: rule 'unsafe-for-our-audience' (moderation_adapter)",
    ]
    assert all("is in eu-west-1, the stack in us-east-1 (aws:region)" in i for i in caught.value.issues)
