"""`imgpipe cost`: calls and cost per N images from a ruleset's needs (no AWS)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgpipe.cli import app
from imgpipe.ops.cost import PRICES, billed_units, estimate_cost
from rules.features import Needs

LABELS_ONLY = """version: 1
rules:
  - name: dog
    type: label_match
    labels: [Dog]
    outcome: success
"""
ALL_THREE = LABELS_ONLY + """  - name: unsafe
    type: moderation
    categories: [Explicit]
    outcome: failure
  - name: serial
    type: text_detection
    pattern: 'SN-\\d{6}'
    outcome: tag
"""


def test_labels_only_is_one_call_per_image() -> None:
    est = estimate_cost(Needs.of("labels"), 1000)
    assert est.api_calls_per_image == ["DetectLabels"]
    assert est.calls == 1000
    assert est.usd == PRICES["DetectLabels"]


def test_every_needed_api_is_billed_once_per_image() -> None:
    # GIVEN labels (with image properties), moderation and text
    needs = Needs(labels=frozenset({"GENERAL_LABELS", "IMAGE_PROPERTIES"}), moderation=True,
                  text=True)

    # WHEN 2,500 images are estimated
    est = estimate_cost(needs, 2500)

    # THEN three API calls per image, four billed units (image properties is an extra unit)
    assert est.calls == 7500
    assert [line.unit for line in est.lines] == [
        "DetectLabels", "DetectLabels:IMAGE_PROPERTIES", "DetectModerationLabels", "DetectText"]
    expected = sum(PRICES[u] for u in billed_units(needs)) * Decimal("2.5")
    assert est.usd == expected
    assert est.usd_per_1000 == sum(PRICES[u] for u in billed_units(needs))


def test_image_properties_alone_is_one_unit_of_its_own_price() -> None:
    est = estimate_cost(Needs(labels=frozenset({"IMAGE_PROPERTIES"})), 1000)
    assert est.api_calls_per_image == ["DetectLabels"]
    assert [line.unit for line in est.lines] == ["DetectLabels:IMAGE_PROPERTIES"]
    assert est.usd == PRICES["DetectLabels:IMAGE_PROPERTIES"]


def test_zero_images_cost_nothing_and_negative_is_refused() -> None:
    assert estimate_cost(Needs.of("labels", "text"), 0).usd == 0
    with pytest.raises(ValueError):
        estimate_cost(Needs.of("labels"), -1)


def test_price_table_covers_every_unit() -> None:
    model = "arn:aws:rekognition:eu-west-1:123456789012:project/p/version/p.1/1764460800000"
    everything = Needs(labels=frozenset({"GENERAL_LABELS", "IMAGE_PROPERTIES"}), moderation=True,
                       text=True, extra=frozenset({"faces", "protective_equipment", f"custom_labels@{model}",
                                                   f"moderation_adapter@{model}"}))
    assert set(billed_units(everything)) == set(PRICES)
    # Custom Labels bill the running model's hours, not images: 0 per image, with a note
    assert all(price > 0 for unit, price in PRICES.items() if unit != "DetectCustomLabels")
    assert estimate_cost(everything, 1).notes.keys() == {"DetectCustomLabels"}


def test_cli_cost_json(tmp_path: Path) -> None:
    # GIVEN a rules file needing all three APIs
    rules = tmp_path / "rules.yaml"
    rules.write_text(ALL_THREE)

    # WHEN the CLI estimates 10,000 images
    result = CliRunner().invoke(app, ["cost", "--rules", str(rules), "--images", "10000", "--json"])

    # THEN 30,000 calls at the table's prices
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["calls"] == 30000
    assert data["api_calls_per_image"] == ["DetectLabels", "DetectModerationLabels", "DetectText"]
    total = (PRICES["DetectLabels"] + PRICES["DetectModerationLabels"] + PRICES["DetectText"]) * 10
    assert Decimal(data["usd"]) == total


def test_cli_cost_table_names_the_price_date(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(LABELS_ONLY)
    result = CliRunner().invoke(app, ["cost", "--rules", str(rules), "--images", "1000"])
    assert result.exit_code == 0, result.output
    assert "DetectLabels" in result.stdout and "as recorded on" in result.stdout


def test_cli_cost_invalid_rules_exit_2(tmp_path: Path) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text("version: 2\nrules: []\n")
    result = CliRunner().invoke(app, ["cost", "--rules", str(rules), "--images", "10"])
    assert result.exit_code == 2
    assert "bad.yaml" in result.output


def test_faces_are_one_more_billed_call(tmp_path: Path) -> None:
    # GIVEN the content-moderation preset (moderation, text and, for minors, faces)
    preset = Path(__file__).resolve().parents[2] / "rules/presets/content-moderation.yaml"
    result = CliRunner().invoke(app, ["cost", "--rules", str(preset), "--images", "1000", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # THEN DetectFaces is billed per image at its registered price
    assert data["api_calls_per_image"] == ["DetectModerationLabels", "DetectText", "DetectFaces"]
    assert [ln["unit"] for ln in data["lines"]][-1] == "DetectFaces"
    assert Decimal(data["usd"]) == PRICES["DetectModerationLabels"] + PRICES["DetectText"] + PRICES["DetectFaces"]
