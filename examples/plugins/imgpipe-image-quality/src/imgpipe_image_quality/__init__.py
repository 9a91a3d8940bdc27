"""``image_quality`` — match photos that are too dark, too bright, blurry or flat."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import model_validator

from rules import Analysis, EvalContext, Needs, Rule, RuleResult
from rules.base import Confidence, Evidence

__all__ = ["ImageQualityRule"]

# (YAML field, ImageQuality attribute, True when the limit is a minimum)
_LIMITS: tuple[tuple[str, str, bool], ...] = (
    ("min_brightness", "brightness", True),
    ("max_brightness", "brightness", False),
    ("min_sharpness", "sharpness", True),
    ("min_contrast", "contrast", True),
)


class ImageQualityRule(Rule):
    """Matches when Rekognition's image quality is outside the given limits (0-100 each)."""

    summary: ClassVar[str] = "image quality (IMAGE_PROPERTIES): brightness, sharpness, contrast"

    type: Literal["image_quality"] = "image_quality"
    min_brightness: Confidence | None = None
    max_brightness: Confidence | None = None
    min_sharpness: Confidence | None = None
    min_contrast: Confidence | None = None

    @model_validator(mode="after")
    def _at_least_one_limit(self) -> ImageQualityRule:
        if all(getattr(self, field) is None for field, _, _ in _LIMITS):
            raise ValueError("give at least one of min_brightness, max_brightness, min_sharpness, min_contrast")
        return self

    def needs(self) -> Needs:
        return Needs(labels=frozenset({"IMAGE_PROPERTIES"}))

    def evaluate(self, analysis: Analysis, ctx: EvalContext) -> RuleResult:
        props = analysis.image_properties
        quality = props.quality if props is not None else None
        if quality is None:
            return RuleResult(False, reasons=("no image quality in the DetectLabels response",))
        evidence: list[Evidence] = []
        reasons: list[str] = []
        for field, attribute, is_minimum in _LIMITS:
            limit = getattr(self, field)
            value = getattr(quality, attribute)
            if limit is None or value is None:
                continue
            outside = value < limit if is_minimum else value > limit
            relation = ("<" if is_minimum else ">") if outside else (">=" if is_minimum else "<=")
            reasons.append(f"{attribute} {value:.1f} {relation} {field} {limit:g}")
            if outside:
                evidence.append({attribute: round(value, 2), field: limit})
        return RuleResult(bool(evidence), tuple(evidence), tuple(reasons))
