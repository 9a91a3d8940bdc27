"""The faces analysis (DetectFaces, Attributes ALL) and the ``faces`` rule type."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from rules import Analysis, load_ruleset
from rules.errors import RulesValidationError
from rules.faces import FacesRule, ResponseError, faces_of, parse_faces
from rules.features import Needs
from rules.loader import parse_ruleset
from rules.testing import analysis as make_analysis
from tests.support.paths import ROOT

FACES = ROOT / "tests" / "events" / "rekognition" / "detect_faces"


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FACES / f"{name}.json").read_text())
    return data


def rules(body: str) -> str:
    return f"version: 1\nrules:\n{body}"


def decide(body: str, faces: dict[str, Any]) -> Any:
    return parse_ruleset(rules(body)).evaluate(Analysis.from_mapping({"faces": faces}))


def test_recorded_responses_parse_with_every_attribute() -> None:
    # WHEN the group photo's DetectFaces response is parsed
    faces = faces_of(Analysis.from_mapping({"faces": recorded("group")}))
    # THEN each face keeps confidence, age range, attributes and emotions
    assert len(faces) == 3
    first = faces[0]
    assert first.confidence == pytest.approx(99.7)
    assert (first.age_low, first.age_high) == (25, 35)
    assert first.attributes is not None and first.attributes["Smile"].value is True
    assert first.emotions == {"HAPPY": 95.0}
    assert faces[1].attributes is not None and faces[1].attributes["EyesOpen"].value is False


def test_no_faces_is_run_and_empty() -> None:
    analysis = Analysis.from_mapping({"faces": recorded("none")})
    assert analysis.has("faces") and faces_of(analysis) == ()
    assert not Analysis.from_mapping({}).has("faces")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("Confidence",), math.nan, r"FaceDetails\[0\]\.Confidence: nan is not a finite number"),
        (("Confidence",), 101, r"FaceDetails\[0\]\.Confidence: 101 is not a finite number in 0..100"),
        (("Confidence",), "99", r"FaceDetails\[0\]\.Confidence: expected a number, got str"),
        (("Confidence",), True, r"expected a number, got bool"),
        (("AgeRange", "Low"), -1, r"FaceDetails\[0\]\.AgeRange\.Low: -1 is not"),
        (("AgeRange", "High"), math.inf, r"AgeRange\.High: inf is not a finite"),
        (("AgeRange", "Low"), 40, r"AgeRange: Low 40 is above High 12"),
        (("Smile", "Value"), "yes", r"FaceDetails\[0\]\.Smile\.Value: expected true or false"),
        (("EyesOpen", "Confidence"), None, r"EyesOpen\.Confidence: expected a number, got NoneType"),
        (("Emotions",), {"Type": "HAPPY"}, r"FaceDetails\[0\]\.Emotions: expected a list, got dict"),
    ],
)
def test_malformed_responses_name_the_field(path: tuple[str, ...], value: Any, message: str) -> None:
    # GIVEN a valid recording with one thing broken
    broken = copy.deepcopy(recorded("child"))
    target = broken["FaceDetails"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    # THEN parsing names the field path
    with pytest.raises(ResponseError, match=message):
        parse_faces(broken)


def test_not_a_list_of_faces() -> None:
    with pytest.raises(ResponseError, match=r"FaceDetails: expected a list, got str"):
        parse_faces({"FaceDetails": "none"})
    with pytest.raises(ResponseError, match=r"FaceDetails\[0\]: expected an object, got int"):
        parse_faces({"FaceDetails": [3]})


def test_the_rule_needs_detect_faces_only() -> None:
    ruleset = parse_ruleset(rules("  - {name: minor, type: faces, max_age: 17, outcome: review}\n"))
    assert ruleset.needs == Needs(extra=frozenset({"faces"}))
    assert ruleset.needs.features == ["faces"]
    assert ruleset.needs.api_calls == ["DetectFaces"]


@pytest.mark.parametrize(
    ("faces", "verdict"),
    [("child", "review"), ("adult_sunglasses", "success"), ("group", "review"), ("none", "success")],
)
def test_possible_minors_go_to_review(faces: str, verdict: str) -> None:
    body = ("  - {name: minor, type: faces, max_age: 17, min_confidence: 90, outcome: review}\n"
            "default_verdict: success\n")
    assert decide(body, recorded(faces)).verdict == verdict


def test_count_bounds() -> None:
    group = recorded("group")
    assert decide("  - {name: crowd, type: faces, min_count: 3, outcome: success}\n", group).verdict == "success"
    assert decide("  - {name: crowd, type: faces, min_count: 4, outcome: success}\n", group).verdict == "failure"
    one = "  - {name: portrait, type: faces, min_count: 1, max_count: 1, outcome: success}\n"
    assert decide(one, recorded("child")).verdict == "success"
    assert decide(one, group).verdict == "failure"
    nobody = "  - {name: nobody, type: faces, min_count: 0, max_count: 0, outcome: success}\n"
    assert decide(nobody, recorded("none")).verdict == "success"
    assert decide(nobody, group).verdict == "failure"


def test_attributes_and_emotions_with_confidence() -> None:
    sunglasses = "  - {name: shades, type: faces, attributes: {Sunglasses: true}, outcome: review}\n"
    assert decide(sunglasses, recorded("adult_sunglasses")).verdict == "review"
    assert decide(sunglasses, recorded("child")).verdict == "failure"
    closed = "  - {name: blink, type: faces, attributes: {EyesOpen: false}, outcome: failure}\ndefault_verdict: success\n"
    result = decide(closed, recorded("group"))
    assert result.verdict == "failure" and result.matches[0].evidence[0]["face"] == 1
    # EyesOpen is reported at 93.7: an attribute threshold above it does not count it
    strict = closed.replace("outcome: failure", "attribute_min_confidence: 95, outcome: failure")
    assert decide(strict, recorded("group")).verdict == "success"
    happy = "  - {name: happy, type: faces, emotions: [HAPPY], outcome: success}\n"
    assert decide(happy, recorded("child")).verdict == "success"
    assert decide(happy, recorded("adult_sunglasses")).verdict == "failure"
    adult = "  - {name: adult, type: faces, min_age: 30, outcome: success}\n"
    assert decide(adult, recorded("adult_sunglasses")).verdict == "success"
    assert decide(adult, recorded("child")).verdict == "failure"


def test_explain_says_why_a_face_does_not_count() -> None:
    ruleset = parse_ruleset(rules("  - {name: minor, type: faces, max_age: 17, outcome: review}\n"))
    result = FacesRule.model_validate({"name": "minor", "type": "faces", "max_age": 17, "outcome": "review"})
    from rules.base import EvalContext

    out = result.evaluate(Analysis.from_mapping({"faces": recorded("adult_sunglasses")}), EvalContext(explain=True))
    assert not out.matched
    assert out.reasons == ("face 0: age low 32.0 above 17", "0 qualifying face(s); the rule wants >= 1")
    assert ruleset.rules[0].type == "faces"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{name: x, type: faces, max_age: 200, outcome: review}", r"rules\[0\]\.max_age"),
        ("{name: x, type: faces, min_count: 2, max_count: 1, outcome: review}", r"max_count 1 is below min_count 2"),
        ("{name: x, type: faces, attributes: {EyesOpened: true}, outcome: review}", r"did you mean 'EyesOpen'"),
        ("{name: x, type: faces, attributes: {eyesopen: true}, outcome: review}", r"is spelled 'EyesOpen'"),
        ("{name: x, type: faces, emotions: [JOY], outcome: review}", r"rules\[0\]\.emotions\[0\]"),
        ("{name: x, type: faces, min_count: '2', outcome: review}", r"rules\[0\]\.min_count"),
        ("{name: x, type: faces, max_ages: 3, outcome: review}", r"rules\[0\]\.max_ages"),
        ("{name: x, type: facez, outcome: review}", r"did you mean 'faces'"),
    ],
)
def test_invalid_rules_are_reported_with_file_line_and_path(rule: str, message: str) -> None:
    with pytest.raises(RulesValidationError, match=message) as info:
        parse_ruleset(rules(f"  - {rule}\n"), "faces.yaml")
    assert "faces.yaml:3:" in str(info.value)


def test_compact_faces_in_the_test_kit() -> None:
    analysis = make_analysis(faces=[{"age": [6, 12]}, {"age": [30, 40], "Sunglasses": True, "emotions": {"calm": 90}}])
    faces = faces_of(analysis)
    assert faces[1].emotions == {"CALM": 90.0}
    with pytest.raises(ValueError, match=r"faces\[0\]: unknown face attribute 'Glasses'"):
        make_analysis(faces=[{"Glasses": True}])


def test_content_moderation_preset_reviews_minors() -> None:
    preset = load_ruleset(ROOT / "rules" / "presets" / "content-moderation.yaml")
    assert "faces" in preset.needs.features
    assert preset.evaluate(make_analysis(faces=[{"age": [8, 14]}])).verdict == "review"
    assert preset.evaluate(make_analysis(faces=[{"age": [19, 27]}])).verdict == "success"
