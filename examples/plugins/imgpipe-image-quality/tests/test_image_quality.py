"""Unit tests of the example plugin, written the way a plugin author would: no AWS, with
imgpipe's test kit (``rules.testing``; its fixtures come with the pytest11 entry point)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from imgpipe_image_quality import ImageQualityRule
from pydantic import ValidationError

from rules import Analysis, EvalContext
from rules.testing import analysis, assert_decision, check_rule_type, load_rules

RULES = """
version: 1
default_verdict: success
rules:
  - name: blurry
    type: image_quality
    min_sharpness: 40
    outcome: failure
  - name: dog
    type: label_match
    labels: [Dog]
    outcome: tag
"""


def _analysis(brightness: float, sharpness: float, contrast: float) -> Analysis:
    return analysis(quality={"brightness": brightness, "sharpness": sharpness, "contrast": contrast})


def test_the_rule_type_keeps_the_plugin_contract() -> None:
    check_rule_type(ImageQualityRule, examples=[{"min_sharpness": 40}, {"max_brightness": 95, "min_contrast": 5}])


def test_in_a_rules_file_a_blurry_dog_fails() -> None:
    rules = load_rules(RULES, plugins=[ImageQualityRule])  # no installation needed
    blurry_dog = analysis(labels=[("Dog", 97)], quality={"brightness": 50, "sharpness": 12, "contrast": 50})
    assert_decision(rules, blurry_dog, verdict="failure", categories=["blurry", "dog"])


def test_with_the_kit_fixtures(imgpipe_rules: Callable[..., Any], imgpipe_analysis: Callable[..., Any],
                               imgpipe_assert: Callable[..., Any]) -> None:
    rules = imgpipe_rules(RULES)  # the installed plugin, through its entry point
    sharp = imgpipe_analysis(quality={"brightness": 50, "sharpness": 90, "contrast": 50})
    imgpipe_assert(rules, sharp, verdict="success", categories=[])


def test_blurry_photo_matches_min_sharpness() -> None:
    rule = ImageQualityRule(name="blurry", outcome="failure", min_sharpness=40)
    result = rule.evaluate(_analysis(brightness=60, sharpness=12.5, contrast=50), EvalContext())
    assert result.matched
    assert result.evidence == ({"sharpness": 12.5, "min_sharpness": 40},)


def test_sharp_photo_does_not_match_and_boundary_is_inclusive() -> None:
    rule = ImageQualityRule(name="blurry", outcome="failure", min_sharpness=40)
    assert not rule.evaluate(_analysis(60, 40.0, 50), EvalContext()).matched
    assert rule.evaluate(_analysis(60, 39.99, 50), EvalContext()).matched


def test_over_exposed_matches_max_brightness() -> None:
    rule = ImageQualityRule(name="bright", outcome="review", max_brightness=95)
    assert rule.evaluate(_analysis(97, 80, 50), EvalContext()).matched
    assert not rule.evaluate(_analysis(95, 80, 50), EvalContext()).matched


def test_needs_image_properties_only() -> None:
    rule = ImageQualityRule(name="q", outcome="failure", min_contrast=10)
    assert rule.needs().label_features == ["IMAGE_PROPERTIES"]


def test_a_rule_without_limits_is_rejected() -> None:
    with pytest.raises(ValidationError, match="at least one of"):
        ImageQualityRule(name="q", outcome="failure")


def test_response_without_quality_never_matches() -> None:
    rule = ImageQualityRule(name="q", outcome="failure", min_sharpness=40)
    result = rule.evaluate(Analysis.from_responses(labels={"Labels": []}), EvalContext())
    assert not result.matched
