"""Protective equipment: the DetectProtectiveEquipment part of the analysis, and the
``protective_equipment`` rule.

The analysis is called without ``SummarizationAttributes`` (its parameters do not depend on the
rules); the rule does the summarising itself, per person. The parser is strict like the faces
parser: confidences finite in 0..100, names and types strings, flags booleans, errors by field
path (``Persons[0].BodyParts[1].EquipmentDetections[0].CoversBodyPart.Value``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from rules.analysis import Analysis
from rules.base import EvalContext, Evidence, Rule, RuleResult
from rules.faces import ResponseError, _list, _mapping, _number
from rules.features import Needs

#: The name of the analysis (a key of ANALYSIS.json and of a recording's responses).
PPE = "protective_equipment"

EquipmentType = Literal["FACE_COVER", "HAND_COVER", "HEAD_COVER"]
BodyPartName = Literal["FACE", "HEAD", "LEFT_HAND", "RIGHT_HAND"]

__all__ = ["PPE", "Person", "ProtectiveEquipmentRule", "ResponseError", "parse_persons", "persons_of"]


@dataclass(frozen=True, slots=True)
class Equipment:
    """One ``EquipmentDetections`` entry on a body part."""

    type: str
    confidence: float
    covers: bool | None  # CoversBodyPart.Value (None when the response omits it)
    covers_confidence: float


@dataclass(frozen=True, slots=True)
class Person:
    """One ``Persons`` entry: its confidence and the equipment found per body part."""

    id: int | None
    confidence: float
    parts: Mapping[str, tuple[Equipment, ...]]  # body part name -> equipment on it


def _str(raw: Any, path: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise ResponseError(f"{path}: expected a name, got {raw!r}")
    return raw


def _person(raw: Any, path: str) -> Person:
    raw = _mapping(raw, path)
    pid = raw.get("Id")
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int)):
        raise ResponseError(f"{path}.Id: expected an integer, got {pid!r}")
    parts: dict[str, tuple[Equipment, ...]] = {}
    for i, part in enumerate(_list(raw.get("BodyParts"), f"{path}.BodyParts")):
        at = f"{path}.BodyParts[{i}]"
        part = _mapping(part, at)
        name = _str(part.get("Name"), f"{at}.Name")
        items = []
        for j, eq in enumerate(_list(part.get("EquipmentDetections"), f"{at}.EquipmentDetections")):
            ep = f"{at}.EquipmentDetections[{j}]"
            eq = _mapping(eq, ep)
            covers: bool | None = None
            covers_conf = 0.0
            if "CoversBodyPart" in eq:
                cov = _mapping(eq["CoversBodyPart"], f"{ep}.CoversBodyPart")
                value = cov.get("Value")
                if not isinstance(value, bool):
                    raise ResponseError(f"{ep}.CoversBodyPart.Value: expected true or false, got {value!r}")
                covers = value
                covers_conf = _number(cov.get("Confidence"), f"{ep}.CoversBodyPart.Confidence")
            items.append(Equipment(_str(eq.get("Type"), f"{ep}.Type"),
                                   _number(eq.get("Confidence"), f"{ep}.Confidence"), covers, covers_conf))
        parts[name] = tuple(items)
    return Person(pid, _number(raw.get("Confidence"), f"{path}.Confidence"), parts)


def parse_persons(response: Any) -> tuple[Person, ...]:
    """Persons of a DetectProtectiveEquipment response, exactly as boto3 returns it."""
    response = _mapping(response, "")
    return tuple(_person(p, f"Persons[{i}]") for i, p in enumerate(_list(response.get("Persons"), "Persons")))


def persons_of(analysis: Analysis) -> tuple[Person, ...]:
    """The parsed persons of an analysis (empty when none were found)."""
    persons = analysis.extra.get(PPE)
    return persons if isinstance(persons, tuple) else ()


class ProtectiveEquipmentRule(Rule):
    """Persons with, or without, the protective equipment named (DetectProtectiveEquipment).

    A person (detected at >= the threshold) *wears* an equipment type when one of its body
    parts (any, or only those in ``body_parts``) carries a detection of that type at >= the
    threshold which, with ``covers_body_part: true`` (the default), also covers the part at >=
    the threshold. ``match: persons_without`` (default) matches when at least ``min_persons``
    persons lack any of ``equipment``; ``persons_with`` when at least ``min_persons`` wear all.
    """

    summary: ClassVar[str] = "persons with or without protective equipment (helmets, masks, gloves)"

    type: Literal["protective_equipment"] = "protective_equipment"
    equipment: list[EquipmentType] = Field(min_length=1)
    body_parts: list[BodyPartName] | None = Field(default=None, min_length=1)
    covers_body_part: bool = True
    match: Literal["persons_without", "persons_with"] = "persons_without"
    min_persons: int = Field(default=1, ge=1, strict=True)

    def needs(self) -> Needs:
        return Needs(extra=frozenset({PPE}))

    def _wears(self, person: Person, kind: str, threshold: float) -> bool:
        for part, items in person.parts.items():
            if self.body_parts is not None and part not in self.body_parts:
                continue
            for eq in items:
                if eq.type != kind or eq.confidence < threshold:
                    continue
                if not self.covers_body_part or (eq.covers and eq.covers_confidence >= threshold):
                    return True
        return False

    def evaluate(self, analysis: Analysis, ctx: EvalContext) -> RuleResult:
        threshold = self.threshold(ctx)
        evidence: list[Evidence] = []
        reasons: list[str] = []
        count = 0
        for i, person in enumerate(persons_of(analysis)):
            if person.confidence < threshold:
                if ctx.explain:
                    reasons.append(f"person {i}: confidence {person.confidence:.1f} below {threshold:.1f}")
                continue
            missing = [k for k in self.equipment if not self._wears(person, k, threshold)]
            if ctx.explain:
                reasons.append(f"person {i}: " + (f"without {', '.join(missing)}" if missing else "wears all"))
            if bool(missing) == (self.match == "persons_without"):
                count += 1
                if len(evidence) < 10:
                    item: Evidence = {"person": person.id if person.id is not None else i,
                                      "confidence": round(person.confidence, 2)}
                    if missing:
                        item["missing"] = missing
                    evidence.append(item)
        if count < self.min_persons:
            return RuleResult(False, (), tuple(reasons))
        return RuleResult(True, tuple(evidence), tuple(reasons))
