"""`imgpipe rules validate|evaluate|explain` on rules with custom models, through the console
script (docs/contracts.md §3): calls per model, ANALYSIS.json keyed by analysis id."""

from __future__ import annotations

import json
from pathlib import Path

from rules.custom import adapter_response, custom_labels_response
from tests.cli.test_rules_cli import run

SHOES = "arn:aws:rekognition:eu-west-1:123456789012:project/shoes/version/shoes.2026-11-30/1764460800000"
BIRDS = "arn:aws:rekognition:eu-west-1:123456789012:project/birds/version/birds.v3/1764460800001"
ADAPTER = "arn:aws:rekognition:eu-west-1:123456789012:project/ugc/version/ugc.1/1764460800002"
RULES = f"""version: 1
default_verdict: review
rules:
  - {{name: sneaker, type: custom_labels, project_version: "{SHOES}", labels: [Sneaker], outcome: success}}
  - {{name: gull, type: custom_labels, project_version: "{BIRDS}", outcome: tag}}
  - {{name: unsafe, type: moderation, adapter: "{ADAPTER}", categories: [Explicit], outcome: failure}}
"""


def test_validate_counts_one_call_per_model(tmp_path: Path) -> None:
    rules = tmp_path / "shop.yaml"
    rules.write_text(RULES)
    result = run("rules", "validate", rules)
    assert result.returncode == 0, result.stderr
    assert "calls DetectCustomLabels (2 models), DetectModerationLabels;" in result.stdout
    as_json = json.loads(run("rules", "validate", rules, "--json").stdout)
    assert as_json[0]["api_calls"] == ["DetectCustomLabels", "DetectCustomLabels", "DetectModerationLabels"]


def test_evaluate_and_explain_read_analysis_ids(tmp_path: Path) -> None:
    rules = tmp_path / "shop.yaml"
    rules.write_text(RULES)
    doc = {f"custom_labels@{SHOES}": custom_labels_response({"Sneaker": 91}),
           f"custom_labels@{BIRDS}": custom_labels_response({"Gull": [97, 96]}),
           f"moderation_adapter@{ADAPTER}": adapter_response(ADAPTER, {}, expired=True)}
    analysis = tmp_path / "analysis.json"
    analysis.write_text(json.dumps(doc))
    result = run("rules", "evaluate", rules, analysis)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["verdict"], out["categories"]) == ("success", ["sneaker", "gull"])
    assert out["features"] == sorted(doc)
    explained = run("rules", "explain", rules, analysis, "--json")
    assert "the adapter had expired: Rekognition's base model answered instead" in explained.stdout
    # a model the file lacks is named by its id; the keys it has are listed
    del doc[f"custom_labels@{BIRDS}"]
    analysis.write_text(json.dumps(doc))
    missing = run("rules", "evaluate", rules, analysis)
    assert missing.returncode == 2
    assert f"need custom_labels@{BIRDS}, which the file lacks" in missing.stderr
