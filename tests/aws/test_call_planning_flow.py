"""The economical call plan in the real flow (moto): fewer calls, the skips in the record."""

from __future__ import annotations

from typing import Any

from tests.support.fakes import FakeDetector
from tests.support.paths import ROOT, sample

PRESET = (ROOT / "rules/presets/content-moderation.yaml").read_text()
UNSAFE = {"moderation": {"ModerationLabels": [{"Name": "Explicit", "Confidence": 97.0, "ParentName": ""}]},
          "text": {"TextDetections": []}, "faces": {"FaceDetails": []}}


def test_economical_plan_skips_calls_and_says_why(world: Any) -> None:
    # GIVEN an unsafe image under the content-moderation preset with calls: economical
    world.put("images/bad.jpg", sample("animals/cat.jpg"), ContentType="image/jpeg")
    event = world.receive_event()
    detector = FakeDetector(UNSAFE)
    analyzer = world.analyzer(detector, rules=PRESET.replace("rules:\n", "calls: economical\nrules:\n", 1))

    # WHEN the handler runs
    assert analyzer.handle(event, None) == {"batchItemFailures": []}

    # THEN one call was made (moderation), the verdict is failure, and the record says why the
    # other two were skipped
    assert dict(detector.calls) == {"DetectModerationLabels": 1}
    record = world.json("results/failure/bad.jpg.json")
    assert record["calls"] == {"DetectModerationLabels": 1}
    assert set(record["skipped_calls"]) == {"text", "faces"}
    assert record["skipped_calls"]["text"].startswith("verdict already failure (rule 'explicit')")
    assert record["categories"] == ["explicit"] and record["features"] == ["moderation"]


def test_complete_plan_makes_every_call(world: Any) -> None:
    world.put("images/bad.jpg", sample("animals/cat.jpg"), ContentType="image/jpeg")
    event = world.receive_event()
    detector = FakeDetector(UNSAFE)
    assert world.analyzer(detector, rules=PRESET).handle(event, None) == {"batchItemFailures": []}
    assert dict(detector.calls) == {"DetectModerationLabels": 1, "DetectText": 1, "DetectFaces": 1}
    record = world.json("results/failure/bad.jpg.json")
    assert "skipped_calls" not in record
