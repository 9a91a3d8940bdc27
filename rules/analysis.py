"""The analysis of one image, parsed from raw Amazon Rekognition responses.

Responses are accepted exactly as boto3 returns them (``detect_labels``,
``detect_moderation_labels``, ``detect_text``); missing optional fields are tolerated. Lookup
indexes are built once here, so evaluating many rules against one analysis stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from rules import taxonomy
from rules.features import Feature

Response = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """Box as ratios of the image size (Rekognition's ``BoundingBox``)."""

    width: float
    height: float
    left: float
    top: float

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> BoundingBox | None:
        if not raw:
            return None
        return cls(
            width=float(raw.get("Width", 0.0)),
            height=float(raw.get("Height", 0.0)),
            left=float(raw.get("Left", 0.0)),
            top=float(raw.get("Top", 0.0)),
        )

    def to_dict(self) -> dict[str, float]:
        return {"Width": self.width, "Height": self.height, "Left": self.left, "Top": self.top}


@dataclass(frozen=True, slots=True)
class Instance:
    """One occurrence (box) of a label."""

    confidence: float
    box: BoundingBox | None


@dataclass(frozen=True, slots=True)
class Label:
    """A DetectLabels label with its parents, aliases, categories and instances."""

    name: str
    confidence: float
    parents: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    instances: tuple[Instance, ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Label:
        return cls(
            name=str(raw.get("Name", "")),
            confidence=float(raw.get("Confidence", 0.0)),
            parents=tuple(str(p.get("Name", "")) for p in raw.get("Parents") or ()),
            aliases=tuple(str(a.get("Name", "")) for a in raw.get("Aliases") or ()),
            categories=tuple(str(c.get("Name", "")) for c in raw.get("Categories") or ()),
            instances=tuple(
                Instance(
                    confidence=float(i.get("Confidence", 0.0)),
                    box=BoundingBox.parse(i.get("BoundingBox")),
                )
                for i in raw.get("Instances") or ()
            ),
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The label's name followed by its aliases."""
        return (self.name, *self.aliases)

    def instances_at(self, min_confidence: float) -> int:
        return sum(1 for i in self.instances if i.confidence >= min_confidence)


@dataclass(frozen=True, slots=True)
class ImageQuality:
    """``ImageProperties.Quality``: each value 0..100."""

    brightness: float | None
    sharpness: float | None
    contrast: float | None


@dataclass(frozen=True, slots=True)
class ImageProperties:
    """DetectLabels ``ImageProperties`` (feature IMAGE_PROPERTIES)."""

    quality: ImageQuality | None
    dominant_colors: tuple[Mapping[str, Any], ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> ImageProperties | None:
        if raw is None:
            return None
        q = raw.get("Quality")
        quality = None
        if q is not None:
            quality = ImageQuality(
                brightness=_opt_float(q.get("Brightness")),
                sharpness=_opt_float(q.get("Sharpness")),
                contrast=_opt_float(q.get("Contrast")),
            )
        return cls(quality=quality, dominant_colors=tuple(raw.get("DominantColors") or ()), raw=raw)


@dataclass(frozen=True, slots=True)
class ModerationLabel:
    """A DetectModerationLabels label with its taxonomy position."""

    name: str
    confidence: float
    parent_name: str = ""
    taxonomy_level: int | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ModerationLabel:
        level = raw.get("TaxonomyLevel")
        return cls(
            name=str(raw.get("Name", "")),
            confidence=float(raw.get("Confidence", 0.0)),
            parent_name=str(raw.get("ParentName") or ""),
            taxonomy_level=int(level) if level is not None else None,
        )


@dataclass(frozen=True, slots=True)
class TextDetection:
    """A DetectText detection: a LINE or a WORD."""

    text: str
    type: str
    confidence: float
    id: int | None = None
    parent_id: int | None = None
    box: BoundingBox | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> TextDetection:
        geometry = raw.get("Geometry") or {}
        return cls(
            text=str(raw.get("DetectedText", "")),
            type=str(raw.get("Type", "LINE")),
            confidence=float(raw.get("Confidence", 0.0)),
            id=raw.get("Id"),
            parent_id=raw.get("ParentId"),
            box=BoundingBox.parse(geometry.get("BoundingBox")),
        )


@dataclass(frozen=True)
class Analysis:
    """Everything known about one image. ``None`` means "that analysis was not run"."""

    labels: tuple[Label, ...] | None = None
    moderation: tuple[ModerationLabel, ...] | None = None
    text: tuple[TextDetection, ...] | None = None
    image_properties: ImageProperties | None = None
    model_versions: Mapping[str, str] = field(default_factory=dict)
    #: further analyses (see rules.analyses) by name, parsed by their spec: ``extra["faces"]``
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_responses(
        cls,
        labels: Response | None = None,
        moderation: Response | None = None,
        text: Response | None = None,
        extra: Mapping[str, Response] | None = None,
    ) -> Analysis:
        """Parse raw boto3 responses; pass ``None`` for an analysis that was not run.

        ``extra`` maps further analyses' names (``faces``) to their raw responses.
        """
        versions: dict[str, str] = {}
        if labels is not None and labels.get("LabelModelVersion"):
            versions["labels"] = str(labels["LabelModelVersion"])
        if moderation is not None and moderation.get("ModerationModelVersion"):
            versions["moderation"] = str(moderation["ModerationModelVersion"])
        if text is not None and text.get("TextModelVersion"):
            versions["text"] = str(text["TextModelVersion"])
        return cls(
            labels=None if labels is None else tuple(Label.parse(x) for x in labels.get("Labels") or ()),
            moderation=None
            if moderation is None
            else tuple(ModerationLabel.parse(x) for x in moderation.get("ModerationLabels") or ()),
            text=None if text is None else tuple(TextDetection.parse(x) for x in text.get("TextDetections") or ()),
            image_properties=None if labels is None else ImageProperties.parse(labels.get("ImageProperties")),
            model_versions=versions,
            extra=_parse_extra(extra or {}),
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Analysis:
        """Parse the ANALYSIS.json shape ``{"labels": ..., "moderation": ..., "text": ...}``."""
        from rules.analyses import default_analyses

        known = set(default_analyses().specs)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown analysis keys: {sorted(unknown)}; expected {', '.join(sorted(known))}")
        return cls.from_responses(
            labels=data.get("labels"), moderation=data.get("moderation"), text=data.get("text"),
            extra={k: v for k, v in data.items() if k not in {f.value for f in Feature}},
        )

    def has(self, feature: Feature | str) -> bool:
        """Whether the analysis for ``feature`` was run (an empty result counts as run)."""
        if feature not in {f.value for f in Feature}:
            return feature in self.extra
        return getattr(self, Feature(feature).value) is not None

    # -- indexes, built on first use ----------------------------------------------------------
    @cached_property
    def label_index(self) -> dict[str, Label]:
        """casefolded name or alias -> the most confident label carrying it."""
        index: dict[str, Label] = {}
        for label in self.labels or ():
            for name in label.names:
                key = name.casefold()
                known = index.get(key)
                if known is None or label.confidence > known.confidence:
                    index[key] = label
        return index

    @cached_property
    def text_by_type(self) -> dict[str, tuple[TextDetection, ...]]:
        """Text detections grouped by type (``LINE`` / ``WORD``), in response order."""
        groups: dict[str, list[TextDetection]] = {}
        for detection in self.text or ():
            groups.setdefault(detection.type, []).append(detection)
        return {kind: tuple(items) for kind, items in groups.items()}

    @cached_property
    def moderation_lineage(self) -> tuple[tuple[ModerationLabel, frozenset[str], tuple[str, ...]], ...]:
        """Per moderation label: (label, casefolded name + ancestors, ancestors for display).

        Ancestors come from ``ParentName`` links inside the response first, then from the documented
        taxonomy where the response omits a level.
        """
        parent_in_response = {m.name.casefold(): m.parent_name for m in self.moderation or ()}
        documented = taxonomy.ANCESTORS
        lineage = []
        for label in self.moderation or ():
            chain: list[str] = []
            seen = {label.name.casefold()}
            parent = label.parent_name or _first(documented.get(label.name.casefold()))
            while parent and (key := parent.casefold()) not in seen:
                chain.append(parent)
                seen.add(key)
                parent = parent_in_response.get(key) or _first(documented.get(key))
            lineage.append((label, frozenset(seen), tuple(chain)))
        return tuple(lineage)


def _parse_extra(responses: Mapping[str, Response]) -> dict[str, Any]:
    from rules.analyses import spec  # the registry imports rule modules: import late

    return {name: spec(name).parse(raw) for name, raw in responses.items()}


def _first(names: tuple[str, ...] | None) -> str:
    return names[0] if names else ""


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
