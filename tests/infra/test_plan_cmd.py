"""`imgpipe plan --stack dev`: the offline preview prints the tree with the key settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgpipe.cli import app, plan_cmd
from tests.support.paths import ROOT


def test_plan_prints_the_tree_with_key_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_cmd.console, "width", 400)  # no wrapping inside the tree
    result = CliRunner().invoke(app, ["plan", "--stack", "dev", "--project-dir", str(ROOT)])
    assert result.exit_code == 0, result.output
    out = result.output
    for expected in (
        "imgpipe:index:Storage imgpipe-dev-storage",
        "all public access blocked",
        "s3:ObjectCreated:* under 'images/' -> queue",
        "visibility 180 s",
        "DLQ after 3 receives",
        "python3.13 arm64, 512 MB, timeout 30 s",
        "batch 5, window 0 s, max concurrency 2, ReportBatchItemFailures",
        "analyzed/success/ -> GLACIER_IR after 7 d",
        "analyzed/failure/ -> GLACIER_IR after 7 d",
        "unencrypted (CloudWatch alarms; no stack key)",
        "upload_prefix = images/",
    ):
        assert expected in out, expected


def test_plan_json_lists_resources_and_outputs() -> None:
    result = CliRunner().invoke(
        app, ["plan", "--stack", "prod", "--project-dir", str(ROOT), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["outputs"]["function_name"] == "image-pipeline-prod-analyzer"
    types = [r["type"] for r in data["resources"]]
    assert types.count("aws:s3/bucketNotification:BucketNotification") == 1
    fn = next(r for r in data["resources"] if r["type"] == "aws:lambda/function:Function")
    assert fn["inputs"]["code"].startswith("<archive ")


def test_plan_exits_2_with_the_config_error(tmp_path: Path) -> None:
    # GIVEN a project copy whose dev stack file has a typo
    for name in ("__main__.py", "Pulumi.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / "infra").symlink_to(ROOT / "infra")
    (tmp_path / "rules").symlink_to(ROOT / "rules")
    (tmp_path / "analyzer").symlink_to(ROOT / "analyzer")
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace("batchSize:", "batchsize:")
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    # WHEN / THEN
    result = CliRunner().invoke(app, ["plan", "--stack", "dev", "--project-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "Pulumi.dev.yaml:" in result.stderr
    assert "image-pipeline:batchsize: Extra inputs are not permitted" in result.stderr


def test_plan_unknown_stack() -> None:
    result = CliRunner().invoke(app, ["plan", "--stack", "qa", "--project-dir", str(ROOT)])
    assert result.exit_code == 2
    assert "Pulumi.qa.yaml: no such stack file" in result.stderr
