"""The example plugin, installed in this environment, works through its entry point (docs/contracts.md §4)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from rules import Analysis, RulesValidationError, build_registry, parse_ruleset

ROOT = Path(__file__).resolve().parents[2]
IMGPIPE = shutil.which("imgpipe", path=str(Path(sys.executable).parent))

RULES = """\
version: 1
default_verdict: success
rules:
  - name: blurry
    type: image_quality
    min_sharpness: 40
    outcome: failure
  - name: shoes
    type: label_match
    labels: [Shoe]
    outcome: tag
"""


def test_plugin_is_registered_under_the_entry_point_group() -> None:
    names = {ep.name for ep in entry_points(group="imgpipe.rules")}
    assert "image_quality" in names, "install it: pip install -e examples/plugins/imgpipe-image-quality"
    registry = build_registry()
    assert registry.get("image_quality") is not None
    assert "imgpipe-image-quality" in registry.origin["image_quality"]


def test_plugin_yaml_validates_needs_image_properties_and_evaluates() -> None:
    # GIVEN a rules file mixing the plugin type and a built-in type
    ruleset = parse_ruleset(RULES, "quality.yaml")
    # THEN DetectLabels is asked for both features, and nothing else is called
    assert ruleset.needs.label_features == ["GENERAL_LABELS", "IMAGE_PROPERTIES"]
    assert ruleset.needs.api_calls == ["DetectLabels"]
    # WHEN a blurry shoe photo is evaluated
    data = json.loads((ROOT / "tests/events/analysis/blurry_shoe.json").read_text())
    decision = ruleset.evaluate(Analysis.from_mapping(data))
    # THEN the plugin rule decides, and the built-in tag is kept
    assert decision.verdict == "failure"
    assert decision.categories == ["blurry", "shoes"]
    assert decision.matches[0].evidence == ({"sharpness": 11.8, "min_sharpness": 40},)


def test_plugin_fields_are_validated_with_line_numbers() -> None:
    broken = RULES.replace("min_sharpness: 40", "min_sharpnes: 40")
    with pytest.raises(RulesValidationError) as info:
        parse_ruleset(broken, "quality.yaml")
    assert [str(i) for i in info.value.issues] == [
        "quality.yaml:6: rules[0].min_sharpnes: unknown key 'min_sharpnes'; did you mean 'min_sharpness'?",
    ]


def test_plugin_through_the_cli(tmp_path: Path) -> None:
    rules = tmp_path / "quality.yaml"
    rules.write_text(RULES)
    result = subprocess.run(
        [str(IMGPIPE), "rules", "evaluate", str(rules), str(ROOT / "tests/events/analysis/blurry_shoe.json")],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["verdict"] == "failure"
    assert out["features"] == ["labels"]
    types = subprocess.run([str(IMGPIPE), "rules", "types"], capture_output=True, text=True, check=False, timeout=60)
    assert "image_quality" in types.stdout
