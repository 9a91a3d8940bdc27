"""Protective equipment (DetectProtectiveEquipment) and the ``protective_equipment`` rule."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from rules import Analysis
from rules.errors import RulesValidationError
from rules.features import Needs
from rules.loader import parse_ruleset
from rules.ppe import PPE, ResponseError, parse_persons, persons_of
from tests.support.paths import ROOT

EVENTS = ROOT / "tests" / "events" / "rekognition" / "detect_protective_equipment"


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data


def decide(rule: str, name: str) -> Any:
    ruleset = parse_ruleset(f"version: 1\ndefault_verdict: success\nrules:\n  - {rule}\n")
    return ruleset.evaluate(Analysis.from_mapping({PPE: recorded(name)}))


def test_recorded_responses_parse() -> None:
    persons = persons_of(Analysis.from_mapping({PPE: recorded("two_workers")}))
    assert [p.id for p in persons] == [0, 1]
    helmet = persons[0].parts["HEAD"][0]
    assert (helmet.type, helmet.covers) == ("HEAD_COVER", True)
    assert persons[1].parts["FACE"] == ()
    assert persons_of(Analysis.from_mapping({PPE: recorded("none")})) == ()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["Persons"][0].update(Confidence=math.nan), r"Persons\[0\]\.Confidence: nan is not a finite"),
        (lambda d: d["Persons"][0].update(Id="0"), r"Persons\[0\]\.Id: expected an integer"),
        (lambda d: d["Persons"][0]["BodyParts"][0].update(Name=3), r"Persons\[0\]\.BodyParts\[0\]\.Name: expected a name"),
        (lambda d: d["Persons"][0]["BodyParts"][0]["EquipmentDetections"][0]["CoversBodyPart"].update(Value="yes"),
         r"Persons\[0\]\.BodyParts\[0\]\.EquipmentDetections\[0\]\.CoversBodyPart\.Value: expected true or false"),
        (lambda d: d["Persons"][0]["BodyParts"][0]["EquipmentDetections"][0].update(Confidence=-3),
         r"EquipmentDetections\[0\]\.Confidence: -3 is not a finite number in 0..100"),
        (lambda d: d.update(Persons={}), r"Persons: expected a list, got dict"),
    ],
)
def test_malformed_responses_name_the_field(mutate: Any, message: str) -> None:
    broken = copy.deepcopy(recorded("worker_helmet_mask"))
    mutate(broken)
    with pytest.raises(ResponseError, match=message):
        parse_persons(broken)


def test_the_rule_needs_detect_protective_equipment() -> None:
    ruleset = parse_ruleset("version: 1\nrules:\n  - {name: h, type: protective_equipment, equipment: [HEAD_COVER], outcome: failure}\n")
    assert ruleset.needs == Needs(extra=frozenset({PPE}))
    assert ruleset.needs.api_calls == ["DetectProtectiveEquipment"]


def test_persons_without_a_helmet() -> None:
    rule = "{name: no-helmet, type: protective_equipment, equipment: [HEAD_COVER], outcome: failure}"
    assert decide(rule, "worker_helmet_mask").verdict == "success"
    result = decide(rule, "two_workers")
    # person 1's helmet does not cover the head: counted as without
    assert result.verdict == "failure"
    assert result.matches[0].evidence == ({"person": 1, "confidence": 98.8, "missing": ["HEAD_COVER"]},)
    assert decide(rule, "none").verdict == "success"


def test_covers_body_part_can_be_relaxed() -> None:
    rule = ("{name: no-helmet, type: protective_equipment, equipment: [HEAD_COVER], "
            "covers_body_part: false, min_confidence: 90, outcome: failure}")
    assert decide(rule, "two_workers").verdict == "success"


def test_persons_with_all_equipment_and_body_parts() -> None:
    full = "{name: kitted, type: protective_equipment, equipment: [HEAD_COVER, FACE_COVER], match: persons_with, outcome: success}"
    assert decide(full.replace("success}", "tag}"), "worker_helmet_mask").categories == ["kitted"]
    gloves = ("{name: gloves, type: protective_equipment, equipment: [HAND_COVER], body_parts: [LEFT_HAND], "
              "match: persons_with, min_confidence: 90, outcome: review}")
    assert decide(gloves, "two_workers").verdict == "review"
    two = "{name: crew, type: protective_equipment, equipment: [HEAD_COVER], min_persons: 2, outcome: failure}"
    assert decide(two, "two_workers").verdict == "success"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{name: x, type: protective_equipment, equipment: [HELMET], outcome: failure}", r"rules\[0\]\.equipment\[0\]"),
        ("{name: x, type: protective_equipment, equipment: [], outcome: failure}", r"rules\[0\]\.equipment"),
        ("{name: x, type: protective_equipment, equipment: [HEAD_COVER], body_parts: [FOOT], outcome: failure}", r"rules\[0\]\.body_parts\[0\]"),
        ("{name: x, type: protective_equipment, equipment: [HEAD_COVER], match: some, outcome: failure}", r"rules\[0\]\.match"),
        ("{name: x, type: protective_equipmnt, equipment: [HEAD_COVER], outcome: failure}", r"did you mean 'protective_equipment'"),
    ],
)
def test_invalid_rules_name_file_line_and_path(rule: str, message: str) -> None:
    with pytest.raises(RulesValidationError, match=message) as info:
        parse_ruleset(f"version: 1\nrules:\n  - {rule}\n", "ppe.yaml")
    assert "ppe.yaml:3:" in str(info.value)
