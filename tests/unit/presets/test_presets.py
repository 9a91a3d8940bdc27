"""Every preset validates and does its job on realistic analyses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rules import Analysis, load_ruleset

ROOT = Path(__file__).resolve().parents[3]
PRESETS = ROOT / "rules" / "presets"
ANALYSES = ROOT / "tests" / "events" / "analysis"


def analysis(name: str, **extra: Any) -> Analysis:
    data = json.loads((ANALYSES / f"{name}.json").read_text())
    data.update(extra)
    return Analysis.from_mapping(data)


def labels(*items: tuple[str, float]) -> dict[str, Any]:
    return {"Labels": [{"Name": n, "Confidence": c, "Instances": [], "Parents": [], "Aliases": []} for n, c in items]}


NO_MODERATION = {"ModerationLabels": [], "ModerationModelVersion": "7.0"}
NO_TEXT: dict[str, Any] = {"TextDetections": []}
NO_FACES: dict[str, Any] = {"FaceDetails": []}
FACES_EVENTS = ROOT / "tests" / "events" / "rekognition" / "detect_faces"


def faces(name: str) -> dict[str, Any]:
    return json.loads((FACES_EVENTS / f"{name}.json").read_text())


@pytest.mark.parametrize(
    "path",
    sorted([*PRESETS.glob("*.yaml"), ROOT / "rules/dev.yaml", ROOT / "rules/prod.yaml"]),
    ids=lambda p: p.name,
)
def test_preset_validates(path: Path) -> None:
    ruleset = load_ruleset(path)
    assert ruleset.rules
    assert ruleset.needs.features


@pytest.mark.parametrize(
    ("preset", "case", "verdict", "categories"),
    [
        ("wildlife", analysis("deer_two"), "success", ["deer", "animals"]),
        ("wildlife", analysis("empty_frame"), "failure", []),
        ("wildlife", analysis("hiker"), "review", ["people"]),
        (
            "wildlife",
            Analysis.from_responses(
                labels={
                    "Labels": [
                        {"Name": "Animal", "Confidence": 97, "Instances": [{"Confidence": 90}] * 3},
                        {"Name": "Sheep", "Confidence": 97},
                    ]
                }
            ),
            "success",
            ["animals", "group"],
        ),
        ("content-moderation", analysis("beach_swimwear"), "review", ["suggestive"]),
        ("content-moderation", analysis("weapon_violence"), "failure", ["violence"]),
        (
            "content-moderation",
            Analysis.from_responses(moderation=NO_MODERATION, text=NO_TEXT, extra={"faces": NO_FACES}),
            "success",
            [],
        ),
        (  # a child's face: a person looks before it is published
            "content-moderation",
            Analysis.from_responses(moderation=NO_MODERATION, text=NO_TEXT, extra={"faces": faces("child")}),
            "review",
            ["minor"],
        ),
        (  # adults only: nothing to see
            "content-moderation",
            Analysis.from_responses(moderation=NO_MODERATION, text=NO_TEXT, extra={"faces": faces("adult_sunglasses")}),
            "success",
            [],
        ),
        ("document-intake", analysis("invoice"), "success", ["invoice", "document", "paper"]),
        (
            "document-intake",
            Analysis.from_responses(labels=labels(("Grass", 95)), text=NO_TEXT),
            "review",
            [],
        ),
        (
            "document-intake",
            Analysis.from_responses(
                labels=labels(("Document", 92)),
                text={"TextDetections": [{"DetectedText": "Receipt", "Type": "WORD", "Id": 1, "Confidence": 95}]},
            ),
            "review",
            ["document", "paper"],
        ),
        (
            "product-tagging",
            analysis("blurry_shoe", moderation=NO_MODERATION, text=NO_TEXT),
            "success",
            ["shoes"],
        ),
        (
            "product-tagging",
            Analysis.from_responses(labels=labels(("Tree", 99)), moderation=NO_MODERATION, text=NO_TEXT),
            "failure",
            [],
        ),
        (
            "product-tagging",
            Analysis.from_responses(
                labels=labels(("Coffee Cup", 96), ("Person", 95)),
                moderation=NO_MODERATION,
                text={"TextDetections": [{"DetectedText": "4006381333931", "Type": "LINE", "Id": 0, "Confidence": 97}]},
            ),
            "review",
            ["kitchen", "barcode", "on-model"],
        ),
    ],
)
def test_preset_does_its_job(preset: str, case: Analysis, verdict: str, categories: list[str]) -> None:
    decision = load_ruleset(PRESETS / f"{preset}.yaml").evaluate(case)
    assert decision.verdict == verdict
    assert decision.categories == categories


def test_labels_only_presets_call_only_detect_labels() -> None:
    assert load_ruleset(PRESETS / "wildlife.yaml").needs.api_calls == ["DetectLabels"]
    assert load_ruleset(ROOT / "rules/prod.yaml").needs.api_calls == ["DetectLabels"]
