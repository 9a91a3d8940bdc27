"""`imgpipe cost` with custom models: an adapter is billed per image, a Custom Labels model per
inference hour (said, not priced per image); both plans run on the mixed feed (no AWS)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from imgpipe.cli import app
from imgpipe.ops.cost import PRICES, estimate_cost
from rules.testing import load_rules

SHOES = "arn:aws:rekognition:eu-west-1:123456789012:project/shoes/version/shoes.2026-11-30/1764460800000"
ADAPTER = "arn:aws:rekognition:eu-west-1:123456789012:project/ugc/version/ugc.1/1764460800002"
RULES = f"""version: 1
calls: economical
default_verdict: success
rules:
  - name: unsafe
    type: moderation
    adapter: {ADAPTER}
    categories: [Explicit, Violence]
    outcome: failure
  - name: sneaker
    type: custom_labels
    project_version: {SHOES}
    labels: [Sneaker]
    outcome: review
"""


def test_custom_labels_cost_nothing_per_image_and_say_how_they_are_billed() -> None:
    est = estimate_cost(load_rules(RULES).needs, 1000)
    assert est.api_calls_per_image == ["DetectCustomLabels", "DetectModerationLabels"]
    lines = {line.unit: line.usd for line in est.lines}
    assert lines == {"DetectCustomLabels": Decimal("0.0000"),
                     "DetectModerationLabels:adapter": PRICES["DetectModerationLabels:adapter"]}
    assert "per inference hour" in est.notes["DetectCustomLabels"]
    assert est.to_dict()["not_per_image"] == est.notes


def test_cli_cost_prints_the_note_and_both_plans(tmp_path: Path) -> None:
    rules = tmp_path / "shop.yaml"
    rules.write_text(RULES)
    table = CliRunner().invoke(app, ["cost", "--rules", str(rules), "--images", "1000"])
    assert table.exit_code == 0, table.output
    assert "DetectCustomLabels: billed per inference hour" in " ".join(table.output.split())
    result = CliRunner().invoke(app, ["cost", "--rules", str(rules), "--images", "1000", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    # the adapter answers like the base model on the feed: its 5 % unsafe images skip the model
    assert doc["calls_per_image_mixed_feed"] == {"complete": 2.0, "economical": 1.95}
