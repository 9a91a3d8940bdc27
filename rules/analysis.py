"""The analysis of one image, parsed from raw Amazon Rekognition responses.

Responses are accepted exactly as boto3 returns them (``detect_labels``,
``detect_moderation_labels``, ``detect_text``); missing optional fields are tolerated. Lookup
indexes are built once here, so evaluating many rules against one analysis stays cheap.

Anything else is refused with an :class:`~rules.errors.AnalysisError` naming the field path
(``labels.Labels[3].Confidence: expected a finite number, got NaN``): a wrong type, a number that
is not finite (NaN or Infinity would compare as matched or unmatched arbitrarily) or too large.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from rules import taxonomy
from rules.errors import AnalysisError, RulesError
from rules.features import Feature
from rules.patterns import safe_text

Response = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """Box as ratios of the image size (Rekognition's ``BoundingBox``)."""

    width: float
    height: float
    left: float
    top: float

    @classmethod
    def parse(cls, raw: Any, path: str = "BoundingBox") -> BoundingBox | None:
        if raw is None:
            return None
        box = _obj(raw, path)
        if not box:
            return None
        return cls(
            width=_num(box, "Width", path),
            height=_num(box, "Height", path),
            left=_num(box, "Left", path),
            top=_num(box, "Top", path),
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
    def parse(cls, raw: Any, path: str = "Label") -> Label:
        label = _obj(raw, path)
        return cls(
            name=_str(label, "Name", path),
            confidence=_num(label, "Confidence", path),
            parents=_names(label, "Parents", path),
            aliases=_names(label, "Aliases", path),
            categories=_names(label, "Categories", path),
            instances=tuple(
                Instance(
                    confidence=_num(item, "Confidence", at),
                    box=BoundingBox.parse(item.get("BoundingBox"), f"{at}.BoundingBox"),
                )
                for at, item in _objects(label, "Instances", path)
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
    def parse(cls, raw: Any, path: str = "ImageProperties") -> ImageProperties | None:
        if raw is None:
            return None
        props = _obj(raw, path)
        quality = None
        if props.get("Quality") is not None:
            at = f"{path}.Quality"
            q = _obj(props["Quality"], at)
            quality = ImageQuality(
                brightness=_num(q, "Brightness", at, None),
                sharpness=_num(q, "Sharpness", at, None),
                contrast=_num(q, "Contrast", at, None),
            )
        colors = tuple(item for _, item in _objects(props, "DominantColors", path))
        return cls(quality=quality, dominant_colors=colors, raw=props)


@dataclass(frozen=True, slots=True)
class ModerationLabel:
    """A DetectModerationLabels label with its taxonomy position."""

    name: str
    confidence: float
    parent_name: str = ""
    taxonomy_level: int | None = None

    @classmethod
    def parse(cls, raw: Any, path: str = "ModerationLabel") -> ModerationLabel:
        label = _obj(raw, path)
        return cls(
            name=_str(label, "Name", path),
            confidence=_num(label, "Confidence", path),
            parent_name=_str(label, "ParentName", path),
            taxonomy_level=_int(label, "TaxonomyLevel", path),
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
    def parse(cls, raw: Any, path: str = "TextDetection") -> TextDetection:
        detection = _obj(raw, path)
        geometry = _obj(detection.get("Geometry") or {}, f"{path}.Geometry")
        return cls(
            text=_str(detection, "DetectedText", path),
            type=_str(detection, "Type", path) or "LINE",
            confidence=_num(detection, "Confidence", path),
            id=_int(detection, "Id", path),
            parent_id=_int(detection, "ParentId", path),
            box=BoundingBox.parse(geometry.get("BoundingBox"), f"{path}.Geometry.BoundingBox"),
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

        ``extra`` maps further analyses' names (``faces``) to their raw responses. Raises
        :class:`~rules.errors.AnalysisError` (a ``ValueError``) naming the field path when a
        response is not shaped as Rekognition returns it.
        """
        versions: dict[str, str] = {}
        parsed_labels = parsed_moderation = parsed_text = None
        properties = None
        if labels is not None:
            raw = _obj(labels, "labels")
            parsed_labels = tuple(Label.parse(x, at) for at, x in _items(raw, "Labels", "labels"))
            properties = ImageProperties.parse(raw.get("ImageProperties"), "labels.ImageProperties")
            if raw.get("LabelModelVersion"):
                versions["labels"] = _str(raw, "LabelModelVersion", "labels")
        if moderation is not None:
            raw = _obj(moderation, "moderation")
            parsed_moderation = tuple(
                ModerationLabel.parse(x, at) for at, x in _items(raw, "ModerationLabels", "moderation")
            )
            if raw.get("ModerationModelVersion"):
                versions["moderation"] = _str(raw, "ModerationModelVersion", "moderation")
        if text is not None:
            raw = _obj(text, "text")
            parsed_text = tuple(TextDetection.parse(x, at) for at, x in _items(raw, "TextDetections", "text"))
            if raw.get("TextModelVersion"):
                versions["text"] = _str(raw, "TextModelVersion", "text")
        return cls(
            labels=parsed_labels,
            moderation=parsed_moderation,
            text=parsed_text,
            image_properties=properties,
            model_versions=versions,
            extra=_parse_extra(extra or {}),
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Analysis:
        """Parse the ANALYSIS.json shape ``{"labels": ..., "moderation": ..., "text": ...}``."""
        from rules.analyses import default_analyses

        registry = default_analyses()
        if not isinstance(data, Mapping):
            raise AnalysisError("", f"expected an object with keys {registry.keys_hint()}; got {_kind(data)}")
        unknown = [k for k in data if not registry.knows(k)]
        for key in unknown:
            name, _, argument = str(key).partition("@")
            if argument and name in registry.specs:  # a known analysis with a bad argument
                try:
                    registry.get(str(key))
                except RulesError as exc:
                    raise AnalysisError(safe_text(str(key))[:200], str(exc)) from None
        if unknown:
            shown = sorted(repr(safe_text(str(k)))[:80] for k in unknown)[:5]
            raise AnalysisError("", f"unknown analysis keys: {', '.join(shown)}; expected {registry.keys_hint()}")
        for key, value in data.items():
            if value is None:
                raise AnalysisError(
                    key, f"is null; give the {registry.get(key).api} response (an object), or leave the key out"
                )
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
        """Per moderation label: (label, casefolded name + ancestors, ancestors for display);
        see :func:`moderation_lineage`."""
        return moderation_lineage(self.moderation or ())


def moderation_lineage(
    labels: tuple[ModerationLabel, ...],
) -> tuple[tuple[ModerationLabel, frozenset[str], tuple[str, ...]], ...]:
    """Per moderation label: (label, casefolded name + ancestors, ancestors for display).

    Ancestors come from ``ParentName`` links inside the response first, then from the documented
    taxonomy where the response omits a level.
    """
    parent_in_response = {m.name.casefold(): m.parent_name for m in labels}
    documented = taxonomy.ANCESTORS
    lineage = []
    for label in labels:
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
    """Each further analysis parsed by its spec; an error's field path starts with the analysis
    (``faces.FaceDetails[1].AgeRange.Low``), like the core analyses' do (``labels.Labels[3]``)."""
    from rules.analyses import spec  # the registry imports rule modules: import late

    parsed: dict[str, Any] = {}
    for name, raw in responses.items():
        try:
            parsed[name] = spec(name).parse(raw)
        except AnalysisError as exc:
            path = f"{name}.{exc.path.lstrip('.')}" if exc.path else name
            raise AnalysisError(path, exc.message) from None
        except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a plugin's parser
            raise AnalysisError(name, f"cannot be parsed: {type(exc).__name__}: {exc}") from None
    return parsed


def _first(names: tuple[str, ...] | None) -> str:
    return names[0] if names else ""


# -- checked access to the raw responses -------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def _obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise AnalysisError(path, f"expected an object, got {_kind(value)}")
    return value


def _items(parent: Mapping[str, Any], key: str, path: str) -> list[tuple[str, Any]]:
    """``parent[key]`` as a list (absent or null: empty), each item with its path."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise AnalysisError(f"{path}.{key}", f"expected a list, got {_kind(value)}")
    return [(f"{path}.{key}[{i}]", item) for i, item in enumerate(value)]


def _objects(parent: Mapping[str, Any], key: str, path: str) -> list[tuple[str, Mapping[str, Any]]]:
    return [(at, _obj(item, at)) for at, item in _items(parent, key, path)]


def _names(parent: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    return tuple(_str(item, "Name", at) for at, item in _objects(parent, key, path))


def _str(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AnalysisError(f"{path}.{key}", f"expected a string, got {_kind(value)}")
    return safe_text(value)


def _int(parent: Mapping[str, Any], key: str, path: str) -> int | None:
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnalysisError(f"{path}.{key}", f"expected an integer, got {_kind(value)}")
    return value


def _num(parent: Mapping[str, Any], key: str, path: str, default: float | None = 0.0) -> Any:
    """A finite number (``default`` when absent). NaN and Infinity are refused: every
    comparison with NaN is False, so a NaN confidence would decide rules arbitrarily."""
    value = parent.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AnalysisError(f"{path}.{key}", f"expected a number, got {_kind(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise AnalysisError(f"{path}.{key}", "number too large") from None
    if not math.isfinite(number):
        raise AnalysisError(f"{path}.{key}", f"expected a finite number, got {value!r}")
    return number
