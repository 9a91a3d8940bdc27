"""``analyzer.handler`` as Lambda imports it: init from the environment, real adapters on moto."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analyzer.errors import ConfigError
from rules import RulesValidationError
from tests.support.fakes import LABELS_ONLY_RULES, FakeContext
from tests.support.paths import sample

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_handler() -> Iterator[None]:
    sys.modules.pop("analyzer.handler", None)
    yield
    sys.modules.pop("analyzer.handler", None)


def _env(monkeypatch: pytest.MonkeyPatch, world: Any, **extra: str) -> None:
    env = {"RULES_PATH": str(world.rules_path), "TOPIC_ARN": world.topic_arn,
           "BUCKET_NAME": world.bucket, "IDEMPOTENCY_TABLE": world.table, **extra}
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_handler_module_end_to_end_with_real_adapters(
    world: Any, monkeypatch: pytest.MonkeyPatch, fresh_handler: None
) -> None:
    # GIVEN the environment the stack sets, and a labels-only ruleset (moto's Rekognition only
    # implements a canned DetectLabels, which is exactly what this ruleset calls)
    world.rules_path.write_text(LABELS_ONLY_RULES)
    _env(monkeypatch, world)
    world.put("images/holiday/cat 1.jpg", sample("animals/cat.jpg"))
    event = world.receive_event()
    # WHEN Lambda imports the module (init) and invokes the handler
    module = importlib.import_module("analyzer.handler")
    response = module.handler(event, FakeContext())
    # THEN the image went through the real S3, Rekognition, SNS and DynamoDB adapters
    assert response == {"batchItemFailures": []}
    keys = sorted(world.keys())
    assert keys == ["analyzed/failure/holiday/cat 1.jpg", "results/failure/holiday/cat 1.jpg.json"]
    record = world.json("results/failure/holiday/cat 1.jpg.json")
    assert record["calls"] == {"DetectLabels": 1} and record["reason"] is None
    assert [n["body"]["verdict"] for n in world.notifications()] == ["failure"]
    assert world.ddb.scan(TableName=world.table)["Count"] == 1
    # AND the rules were loaded once, at init
    assert module.ANALYZER.ruleset.name == "labels-only"


def test_invalid_rules_fail_the_init(
    world: Any, monkeypatch: pytest.MonkeyPatch, fresh_handler: None
) -> None:
    world.rules_path.write_text("version: 1\nrules:\n  - name: x\n    type: label_match\n")
    _env(monkeypatch, world)
    with pytest.raises(RulesValidationError):
        importlib.import_module("analyzer.handler")


def test_missing_rules_path_fails_the_init(
    world: Any, monkeypatch: pytest.MonkeyPatch, fresh_handler: None
) -> None:
    monkeypatch.delenv("RULES_PATH", raising=False)
    with pytest.raises(ConfigError, match="RULES_PATH"):
        importlib.import_module("analyzer.handler")


def test_cold_path_imports_neither_tracer_nor_idempotency_when_off(tmp_path: Path) -> None:
    # GIVEN a clean interpreter with the default environment (no tracing, no idempotency table)
    rules = tmp_path / "rules.yaml"
    rules.write_text(LABELS_ONLY_RULES)
    env = {**os.environ, "RULES_PATH": str(rules), "AWS_DEFAULT_REGION": "eu-west-1",
           "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    env.pop("IDEMPOTENCY_TABLE", None)
    env.pop("TRACING", None)
    code = ("import json, sys, analyzer.handler; print(json.dumps(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('aws_xray_sdk', 'boto3', 's3transfer') "
            "or m.startswith('aws_lambda_powertools.utilities.idempotency'))))")
    # WHEN the handler module is imported
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=True)
    # THEN the X-Ray SDK, the idempotency utility and boto3 (botocore suffices) stayed off it
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_tracing_without_the_xray_sdk_degrades_to_a_warning(
    world: Any, monkeypatch: pytest.MonkeyPatch, fresh_handler: None
) -> None:
    # GIVEN TRACING=true in an environment without aws-xray-sdk (like the default layer)
    world.rules_path.write_text(LABELS_ONLY_RULES)
    _env(monkeypatch, world, TRACING="true")
    monkeypatch.setitem(sys.modules, "aws_xray_sdk", None)  # make the import fail
    # WHEN Lambda imports the handler
    module = importlib.import_module("analyzer.handler")
    # THEN the init succeeds and the handler runs untraced
    assert module.ANALYZER.settings.tracing is True
    assert module.handler({"Records": []}, FakeContext()) == {"batchItemFailures": []}
