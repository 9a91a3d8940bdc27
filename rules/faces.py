"""Faces: the DetectFaces (``Attributes: ["ALL"]``) part of the analysis, and the ``faces`` rule.

The parser is strict, like the other response parsers: every number must be a finite float
(confidences 0..100, ages 0..150), every flag a bool; a bad value raises
:class:`ResponseError` naming the field path (``FaceDetails[1].AgeRange.Low``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from rules.analysis import Analysis
from rules.base import Confidence, EvalContext, Evidence, Rule, RuleResult
from rules.errors import AnalysisError
from rules.features import Needs

#: The name of the analysis (a key of ANALYSIS.json and of a recording's responses).
FACES = "faces"

#: Boolean face attributes of DetectFaces with ``Attributes: ["ALL"]``.
FACE_ATTRIBUTES: tuple[str, ...] = (
    "Smile",
    "Eyeglasses",
    "Sunglasses",
    "Beard",
    "Mustache",
    "EyesOpen",
    "MouthOpen",
    "FaceOccluded",
)

#: Emotion types DetectFaces reports.
EMOTIONS: tuple[str, ...] = (
    "HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "FEAR",
)

MAX_AGE = 150


class ResponseError(AnalysisError):
    """A Rekognition response that does not have the documented shape; names the field path."""

    def __init__(self, message: str) -> None:
        path, _, rest = message.partition(": ")
        super().__init__(path, rest)


def _number(raw: Any, path: str, low: float = 0.0, high: float = 100.0) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ResponseError(f"{path}: expected a number, got {type(raw).__name__}")
    value = float(raw)
    if not math.isfinite(value) or not low <= value <= high:
        raise ResponseError(f"{path}: {raw!r} is not a finite number in {low:g}..{high:g}")
    return value


def _mapping(raw: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ResponseError(f"{path}: expected an object, got {type(raw).__name__}")
    return raw


def _list(raw: Any, path: str) -> Sequence[Any]:
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise ResponseError(f"{path}: expected a list, got {type(raw).__name__}")
    return raw


@dataclass(frozen=True, slots=True)
class FaceAttribute:
    """A boolean face attribute (``{"Value": true, "Confidence": 99.2}``)."""

    value: bool
    confidence: float


@dataclass(frozen=True, slots=True)
class Face:
    """One ``FaceDetails`` entry."""

    confidence: float
    age_low: float | None = None
    age_high: float | None = None
    attributes: Mapping[str, FaceAttribute] | None = None
    emotions: Mapping[str, float] | None = None  # TYPE -> confidence

    @classmethod
    def parse(cls, raw: Any, path: str) -> Face:
        raw = _mapping(raw, path)
        confidence = _number(raw.get("Confidence"), f"{path}.Confidence")
        low = high = None
        if "AgeRange" in raw:
            age = _mapping(raw["AgeRange"], f"{path}.AgeRange")
            low = _number(age.get("Low"), f"{path}.AgeRange.Low", 0, MAX_AGE)
            high = _number(age.get("High"), f"{path}.AgeRange.High", 0, MAX_AGE)
            if low > high:
                raise ResponseError(f"{path}.AgeRange: Low {low:g} is above High {high:g}")
        attributes: dict[str, FaceAttribute] = {}
        for name in FACE_ATTRIBUTES:
            if name not in raw:
                continue
            item = _mapping(raw[name], f"{path}.{name}")
            value = item.get("Value")
            if not isinstance(value, bool):
                raise ResponseError(f"{path}.{name}.Value: expected true or false, got {value!r}")
            attributes[name] = FaceAttribute(
                value, _number(item.get("Confidence"), f"{path}.{name}.Confidence")
            )
        emotions: dict[str, float] = {}
        for i, item in enumerate(_list(raw.get("Emotions"), f"{path}.Emotions")):
            at = f"{path}.Emotions[{i}]"
            item = _mapping(item, at)
            kind = item.get("Type")
            if not isinstance(kind, str) or not kind:
                raise ResponseError(f"{at}.Type: expected an emotion name, got {kind!r}")
            emotions[kind.upper()] = _number(item.get("Confidence"), f"{at}.Confidence")
        return cls(confidence, low, high, attributes, emotions)


def parse_faces(response: Any) -> tuple[Face, ...]:
    """Faces of a DetectFaces response, exactly as boto3 returns it."""
    response = _mapping(response, "")
    return tuple(
        Face.parse(item, f"FaceDetails[{i}]")
        for i, item in enumerate(_list(response.get("FaceDetails"), "FaceDetails"))
    )


def faces_of(analysis: Analysis) -> tuple[Face, ...]:
    """The parsed faces of an analysis (empty when DetectFaces found none)."""
    faces = analysis.extra.get(FACES)
    return faces if isinstance(faces, tuple) else ()


def _attribute_name(name: str) -> str:
    for known in FACE_ATTRIBUTES:
        if known.casefold() == name.replace("_", "").casefold():
            return known
    import difflib

    close = difflib.get_close_matches(name, FACE_ATTRIBUTES, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ValueError(f"unknown face attribute {name!r}; {hint}known: {', '.join(FACE_ATTRIBUTES)}")


class FacesRule(Rule):
    """Counts faces found by DetectFaces that meet age, attribute and emotion conditions.

    A face qualifies when its detection confidence reaches the threshold and every condition
    given holds: ``max_age`` — the face's estimated AgeRange.Low is at most this (the face *may*
    be this young, e.g. 17 for "possibly a minor"); ``min_age`` — AgeRange.High is at least this;
    ``attributes`` — each named attribute has that Value at >= threshold (``EyesOpen: false``,
    ``Sunglasses: true``); ``emotions`` — any listed emotion at >= threshold. The rule matches
    when the number of qualifying faces is within ``min_count`` (default 1) .. ``max_count``.
    """

    summary: ClassVar[str] = "faces found by DetectFaces (count, age, attributes, emotions)"

    type: Literal["faces"] = "faces"
    min_count: int = Field(default=1, ge=0, strict=True)
    max_count: int | None = Field(default=None, ge=0, strict=True)
    min_age: int | None = Field(default=None, ge=0, le=MAX_AGE, strict=True)
    max_age: int | None = Field(default=None, ge=0, le=MAX_AGE, strict=True)
    attributes: dict[str, bool] = Field(default_factory=dict)
    emotions: list[Literal[
        "HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "FEAR"
    ]] = Field(default_factory=list)
    attribute_min_confidence: Confidence | None = None

    @model_validator(mode="after")
    def _check(self) -> FacesRule:
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError(f"max_count {self.max_count} is below min_count {self.min_count}")
        if self.min_age is not None and self.max_age is not None and self.max_age < self.min_age:
            raise ValueError(f"max_age {self.max_age} is below min_age {self.min_age}")
        for name in self.attributes:
            if _attribute_name(name) != name:
                raise ValueError(f"face attribute {name!r} is spelled {_attribute_name(name)!r}")
        return self

    def needs(self) -> Needs:
        return Needs(extra=frozenset({FACES}))

    def _qualifies(self, face: Face, threshold: float, attr_threshold: float) -> list[str]:
        """Why the face does not qualify (empty: it does)."""
        why: list[str] = []
        if face.confidence < threshold:
            why.append(f"face confidence {face.confidence:.1f} below {threshold:.1f}")
        if self.max_age is not None and (face.age_low is None or face.age_low > self.max_age):
            why.append(f"age low {face.age_low} above {self.max_age}")
        if self.min_age is not None and (face.age_high is None or face.age_high < self.min_age):
            why.append(f"age high {face.age_high} below {self.min_age}")
        for name, wanted in self.attributes.items():
            got = (face.attributes or {}).get(name)
            if got is None or got.value != wanted or got.confidence < attr_threshold:
                why.append(f"{name} is not {wanted} at >= {attr_threshold:.1f}")
        if self.emotions and not any(
            (face.emotions or {}).get(e, 0.0) >= attr_threshold for e in self.emotions
        ):
            why.append(f"none of {', '.join(self.emotions)} at >= {attr_threshold:.1f}")
        return why

    def evaluate(self, analysis: Analysis, ctx: EvalContext) -> RuleResult:
        threshold = self.threshold(ctx)
        attr_threshold = (
            threshold if self.attribute_min_confidence is None else self.attribute_min_confidence
        )
        evidence: list[Evidence] = []
        reasons: list[str] = []
        count = 0
        for i, face in enumerate(faces_of(analysis)):
            why = self._qualifies(face, threshold, attr_threshold)
            if why:
                if ctx.explain:
                    reasons.append(f"face {i}: " + "; ".join(why))
                continue
            count += 1
            if len(evidence) < 10:
                item: Evidence = {"face": i, "confidence": round(face.confidence, 2)}
                if face.age_low is not None:
                    item["age_range"] = [face.age_low, face.age_high]
                evidence.append(item)
        matched = count >= self.min_count and (self.max_count is None or count <= self.max_count)
        if ctx.explain:
            bounds = f">= {self.min_count}" + (
                f" and <= {self.max_count}" if self.max_count is not None else ""
            )
            reasons.append(f"{count} qualifying face(s); the rule wants {bounds}")
        if not matched:
            return RuleResult(False, (), tuple(reasons))
        if not evidence:
            evidence.append({"faces": count})
        return RuleResult(True, tuple(evidence), tuple(reasons))


def faces_response(faces: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A DetectFaces response from compact face specs, for tests and cases files.

    Each spec: ``age: [low, high]``, ``confidence`` (default 99), attribute names with a bool
    (``EyesOpen: false``, at confidence 99) and ``emotions: {HAPPY: 95}``.
    """
    details: list[dict[str, Any]] = []
    for i, face in enumerate(faces):
        item: dict[str, Any] = {
            "BoundingBox": {"Width": 0.2, "Height": 0.3, "Left": 0.1, "Top": 0.1},
            "Confidence": float(face.get("confidence", 99.0)),
        }
        for key, value in face.items():
            if key == "age":
                low, high = value
                item["AgeRange"] = {"Low": low, "High": high}
            elif key == "emotions":
                item["Emotions"] = [{"Type": k.upper(), "Confidence": float(c)} for k, c in value.items()]
            elif key != "confidence":
                try:
                    name = _attribute_name(key)
                except ValueError as exc:
                    raise ValueError(f"faces[{i}]: {exc}; or age, confidence, emotions") from None
                item[name] = {"Value": bool(value), "Confidence": 99.0}
        details.append(item)
    return {"FaceDetails": details}
