"""What a rule needs from Rekognition, so the analyzer calls only those APIs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Feature(StrEnum):
    """An analysis, named like the keys of ANALYSIS.json."""

    LABELS = "labels"
    MODERATION = "moderation"
    TEXT = "text"


#: DetectLabels ``Features`` values the engine knows about.
LABEL_FEATURES: tuple[str, ...] = ("GENERAL_LABELS", "IMAGE_PROPERTIES")

#: Rekognition API per feature.
API_BY_FEATURE: dict[Feature, str] = {
    Feature.LABELS: "DetectLabels",
    Feature.MODERATION: "DetectModerationLabels",
    Feature.TEXT: "DetectText",
}


@dataclass(frozen=True, slots=True)
class Needs:
    """The analyses a rule (or a whole ruleset) needs.

    ``labels`` holds the DetectLabels ``Features`` wanted (empty: DetectLabels is not needed).
    Needs combine with ``|``.
    """

    labels: frozenset[str] = frozenset()
    moderation: bool = False
    text: bool = False
    #: further registered analyses by name (``faces``, a plugin's), see :mod:`rules.analyses`
    extra: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = set(self.labels) - set(LABEL_FEATURES)
        if unknown:
            raise ValueError(f"unknown DetectLabels features: {sorted(unknown)}")

    def __or__(self, other: Needs) -> Needs:
        return Needs(
            labels=self.labels | other.labels,
            moderation=self.moderation or other.moderation,
            text=self.text or other.text,
            extra=self.extra | other.extra,
        )

    @property
    def feature_set(self) -> frozenset[Feature]:
        found: set[Feature] = set()
        if self.labels:
            found.add(Feature.LABELS)
        if self.moderation:
            found.add(Feature.MODERATION)
        if self.text:
            found.add(Feature.TEXT)
        return frozenset(found)

    @property
    def features(self) -> list[str]:
        """Needed analyses in canonical order: ``labels``, ``moderation``, ``text``, then extras."""
        return [f.value for f in Feature if f in self.feature_set] + sorted(self.extra)

    @property
    def label_features(self) -> list[str]:
        """DetectLabels ``Features`` to request, in a stable order."""
        return [f for f in LABEL_FEATURES if f in self.labels]

    @property
    def api_calls(self) -> list[str]:
        """Rekognition APIs to call, one call each per image."""
        core = [API_BY_FEATURE[f] for f in Feature if f in self.feature_set]
        if not self.extra:
            return core
        from rules.analyses import spec  # the registry imports rule modules: import late

        return core + [spec(name).api for name in sorted(self.extra)]

    @classmethod
    def of(cls, *features: str | Feature) -> Needs:
        """Build from feature names; ``labels`` means GENERAL_LABELS."""
        needs = cls()
        for feature in features:
            match Feature(feature):
                case Feature.LABELS:
                    needs = needs | cls(labels=frozenset({"GENERAL_LABELS"}))
                case Feature.MODERATION:
                    needs = needs | cls(moderation=True)
                case Feature.TEXT:
                    needs = needs | cls(text=True)
        return needs
