"""Rekognition's custom models: Custom Labels models and custom moderation adapters.

Both are *project versions*, named by ARN in the rules file, and both make an analysis that is
parameterised by that ARN: its id is ``custom_labels@<ARN>`` or ``moderation_adapter@<ARN>``
(see :mod:`rules.analyses`), so two models give two calls, two entries in the analysis, the
record and a recording, and two IAM grants, each scoped to its own ARN.

- ``custom_labels`` (rule type and analysis): DetectCustomLabels with ``ProjectVersionArn`` and
  ``MinConfidence: 0`` — every label the model finds comes back with its confidence, so the rule
  applies its own threshold (and a stored analysis can be re-judged with another one later).
- ``moderation`` with ``adapter: <ARN>``: DetectModerationLabels with ``ProjectVersion``. When the
  adapter has expired, Rekognition answers with its base model and leaves ``ProjectVersion`` out
  of the response; the analysis keeps that fact (:attr:`AdapterModeration.adapter_used`) and the
  rule's explanation says so.

Parsers are strict like the others: a bad value raises :class:`~rules.errors.AnalysisError`
naming the field path (prefixed with the analysis id by :class:`~rules.analysis.Analysis`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, PrivateAttr

from rules.analysis import (
    Analysis,
    BoundingBox,
    ModerationLabel,
    _items,
    _num,
    _obj,
    _str,
    moderation_lineage,
)
from rules.base import EvalContext, Evidence, Rule, RuleResult
from rules.features import Needs

CUSTOM_LABELS = "custom_labels"
MODERATION_ADAPTER = "moderation_adapter"
MAX_EVIDENCE = 10

#: arn:PARTITION:rekognition:REGION:ACCOUNT:project/PROJECT/version/VERSION/TIMESTAMP
PROJECT_VERSION_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):rekognition:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):"
    r"(?P<account>\d{12}):project/(?P<project>[A-Za-z0-9_.\-]{1,255})/version/"
    r"(?P<version>[A-Za-z0-9_.\-]{1,255})/(?P<created>\d{1,20})"
)
_PROJECT_ARN = re.compile(r"arn:aws[a-z-]*:rekognition:[^:]+:\d{12}:project/[^/]+/\d+")
_EXAMPLE = "arn:aws:rekognition:eu-west-1:123456789012:project/shoes/version/shoes.2026-11-30/1764460800000"


def project_version_arn(value: str) -> str:
    """Check ``value`` is a Rekognition project version ARN; the message says what is wrong."""
    if PROJECT_VERSION_ARN.fullmatch(value):
        return value
    if _PROJECT_ARN.fullmatch(value):
        raise ValueError(
            f"{value!r} is a project ARN; give one of its versions (the model or adapter to "
            f"call), like {_EXAMPLE!r}"
        )
    if value != value.strip() or not value.startswith("arn:"):
        raise ValueError(f"{value!r} is not an ARN; expected a project version ARN like {_EXAMPLE!r}")
    raise ValueError(
        f"{value!r} is not a Rekognition project version ARN; expected "
        f"arn:aws:rekognition:REGION:ACCOUNT:project/NAME/version/NAME/TIMESTAMP, like {_EXAMPLE!r}"
    )


def arn_region(arn: str) -> str:
    """The region of a project version ARN (the model can be called only there)."""
    match = PROJECT_VERSION_ARN.fullmatch(arn)
    if match is None:
        raise ValueError(f"not a project version ARN: {arn!r}")
    return match["region"]


ProjectVersionArn = Annotated[
    str,
    # the editor schema gets the same pattern, anchored and without group names (ECMA and re agree)
    Field(min_length=1, json_schema_extra={"pattern": "^" + re.sub(r"\?P<\w+>", "", PROJECT_VERSION_ARN.pattern) + "$"}),
    AfterValidator(project_version_arn),
]


@dataclass(frozen=True, slots=True)
class CustomLabel:
    """One ``CustomLabels`` entry: a class of the model, with its box for object detection."""

    name: str
    confidence: float
    box: BoundingBox | None = None


def parse_custom_labels(response: Any) -> tuple[CustomLabel, ...]:
    """The labels of a DetectCustomLabels response, exactly as boto3 returns it."""
    raw = _obj(response, "")
    labels = []
    for at, item in _items(raw, "CustomLabels", ""):
        label = _obj(item, at)
        geometry = _obj(label.get("Geometry") or {}, f"{at}.Geometry")
        labels.append(
            CustomLabel(
                name=_str(label, "Name", at),
                confidence=_num(label, "Confidence", at),
                box=BoundingBox.parse(geometry.get("BoundingBox"), f"{at}.Geometry.BoundingBox"),
            )
        )
    return tuple(labels)


@dataclass(frozen=True, slots=True)
class AdapterModeration:
    """A DetectModerationLabels response made with an adapter (``ProjectVersion``)."""

    labels: tuple[ModerationLabel, ...]
    #: False when the response names no ProjectVersion: the adapter had expired and
    #: Rekognition's base model answered instead
    adapter_used: bool
    lineage: tuple[tuple[ModerationLabel, frozenset[str], tuple[str, ...]], ...] = ()


def parse_adapter_moderation(response: Any) -> AdapterModeration:
    """A DetectModerationLabels (with an adapter) response, exactly as boto3 returns it."""
    raw = _obj(response, "")
    labels = tuple(
        ModerationLabel.parse(x, at) for at, x in _items(raw, "ModerationLabels", "")
    )
    return AdapterModeration(labels, bool(_str(raw, "ProjectVersion", "")), moderation_lineage(labels))


def custom_labels_of(analysis: Analysis, analysis_id: str) -> tuple[CustomLabel, ...]:
    found = analysis.extra.get(analysis_id)
    return found if isinstance(found, tuple) else ()


def _fmt(value: float) -> str:
    return f"{value:.1f}"


class CustomLabelsRule(Rule):
    """Matches classes of your own Rekognition Custom Labels model (DetectCustomLabels).

    ``project_version`` is the model version's ARN (the model must be running). ``labels`` are
    the model's class names (any case); left out, any class the model finds matches. ``match:
    all`` needs every label; ``min_instances`` counts the boxes of an object-detection model
    (each box is one entry of the response) at >= the threshold.
    """

    summary: ClassVar[str] = "classes of your own Custom Labels model (DetectCustomLabels)"

    type: Literal["custom_labels"] = "custom_labels"
    project_version: ProjectVersionArn
    labels: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    match: Literal["any", "all"] = "any"
    min_instances: int = Field(default=1, ge=1, strict=True)

    _wanted: tuple[str, ...] = PrivateAttr(default=())

    def model_post_init(self, context: object, /) -> None:
        self._wanted = tuple(label.casefold() for label in self.labels or ())

    @property
    def analysis_id(self) -> str:
        return f"{CUSTOM_LABELS}@{self.project_version}"

    def needs(self) -> Needs:
        return Needs(extra=frozenset({self.analysis_id}))

    def evaluate(self, analysis: Analysis, ctx: EvalContext) -> RuleResult:
        threshold = self.threshold(ctx)
        found: dict[str, list[CustomLabel]] = {}
        below: dict[str, CustomLabel] = {}
        for label in custom_labels_of(analysis, self.analysis_id):
            key = label.name.casefold()
            if label.confidence >= threshold:
                found.setdefault(key, []).append(label)
            elif key not in below or label.confidence > below[key].confidence:
                below[key] = label
        wanted = self._wanted or tuple(found)
        shown = self.labels or [found[k][0].name for k in wanted]
        evidence: list[Evidence] = []
        reasons: list[str] = []
        hits = 0
        for key, name in zip(wanted, shown, strict=True):
            seen = found.get(key, [])
            if len(seen) >= self.min_instances:
                hits += 1
                best = max(seen, key=lambda lb: lb.confidence)
                if len(evidence) < MAX_EVIDENCE:
                    item: Evidence = {"label": best.name, "confidence": round(best.confidence, 2)}
                    if self.min_instances > 1 or len(seen) > 1:
                        item["instances"] = len(seen)
                    evidence.append(item)
                if ctx.explain:
                    reasons.append(f"{name}: {len(seen)} at >= {_fmt(threshold)}, best {_fmt(best.confidence)}%")
            elif ctx.explain:
                if seen:
                    reasons.append(f"{name}: {len(seen)} at >= {_fmt(threshold)}, needs {self.min_instances}")
                elif key in below:
                    reasons.append(f"{name}: only at {_fmt(below[key].confidence)}%, below the threshold {_fmt(threshold)}")
                else:
                    reasons.append(f"{name}: not found by the model")
        matched = hits == len(wanted) if self.match == "all" else hits > 0
        if not wanted and ctx.explain:
            reasons.append(f"the model found no class at >= {_fmt(threshold)}")
        return RuleResult(matched and bool(wanted), tuple(evidence) if matched else (), tuple(reasons))


def custom_labels_response(labels: Mapping[str, float | Sequence[float]]) -> dict[str, Any]:
    """A DetectCustomLabels response from ``{"Sneaker": 92}`` or ``{"Sneaker": [92, 88]}``
    (one entry per box), for tests and cases files."""
    items: list[dict[str, Any]] = []
    for name, value in labels.items():
        confidences = [value] if isinstance(value, int | float) else list(value)
        for conf in confidences:
            items.append({"Name": str(name), "Confidence": float(conf),
                          "Geometry": {"BoundingBox": {"Width": 0.3, "Height": 0.3, "Left": 0.1, "Top": 0.1}}})
    return {"CustomLabels": items}


def adapter_response(arn: str, labels: Mapping[str, float], *, expired: bool = False) -> dict[str, Any]:
    """A DetectModerationLabels response of an adapter from ``{"Explicit Nudity": 91}``."""
    doc: dict[str, Any] = {
        "ModerationLabels": [{"Name": str(n), "Confidence": float(c), "ParentName": ""} for n, c in labels.items()],
        "ModerationModelVersion": "7.0",
    }
    if not expired:
        doc["ProjectVersion"] = arn
    return doc

