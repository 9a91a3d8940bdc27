"""Unit tests of the example plugin, written the way a plugin author would: no AWS, no YAML file."""

from __future__ import annotations

import pytest
from imgpipe_image_quality import ImageQualityRule
from pydantic import ValidationError

from rules import Analysis, EvalContext


def _analysis(brightness: float, sharpness: float, contrast: float) -> Analysis:
    return Analysis.from_responses(
        labels={
            "Labels": [],
            "ImageProperties": {
                "Quality": {"Brightness": brightness, "Sharpness": sharpness, "Contrast": contrast},
                "DominantColors": [],
            },
        }
    )


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
