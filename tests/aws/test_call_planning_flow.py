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


def test_an_economical_record_is_re_judged_from_what_was_fetched(world: Any) -> None:
    import json

    from analyzer.rejudge import rejudge_message

    economical = PRESET.replace("rules:\n", "calls: economical\nrules:\n", 1)
    # GIVEN an unsafe image judged under calls: economical (moderation fetched, text/faces skipped)
    world.put("images/bad.jpg", sample("animals/cat.jpg"), ContentType="image/jpeg")
    assert world.analyzer(FakeDetector(UNSAFE), rules=economical).handle(
        world.receive_event(), None) == {"batchItemFailures": []}
    record = world.json("results/failure/bad.jpg.json")
    assert record["analysis"]["features"] == ["moderation"]  # what was fetched is stored
    world.notifications()

    def rejudge(rules: str, run: str) -> tuple[Any, FakeDetector]:
        detector = FakeDetector(UNSAFE)
        analyzer = world.analyzer(detector, rules=rules)
        outcomes: list[Any] = []
        original = analyzer._rejudge_one
        analyzer._rejudge_one = lambda job: outcomes.append(original(job)) or outcomes[-1]  # type: ignore[method-assign]
        world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=json.dumps(
            rejudge_message(world.bucket, run, [{"source_key": "images/bad.jpg"}])))
        assert analyzer.handle(world.receive_event(), None) == {"batchItemFailures": []}
        [outcome] = outcomes
        return outcome, detector

    # WHEN explicit images go to review instead: the skipped review rules cannot change that
    reviews = economical.replace("    min_confidence: 70\n    outcome: failure",
                                 "    min_confidence: 70\n    outcome: review", 1)
    outcome, detector = rejudge(reviews, "run-1")
    # THEN re-judged from the stored moderation alone, zero calls, moved and announced
    assert (str(outcome["status"]), str(outcome["verdict"])) == ("changed", "review")
    assert dict(detector.calls) == {}
    moved = world.json("results/review/bad.jpg.json")
    assert set(moved["skipped_calls"]) == {"text", "faces"}
    assert moved["skipped_calls"]["text"].startswith("verdict already review (rule 'explicit')")
    [note] = world.notifications()
    assert note["body"]["previous_verdict"] == "failure"
    # WHEN the rules could now fail on text, or make every call: the stored analysis cannot say
    text_fails = reviews.replace("    detection_type: WORD\n    outcome: review",
                                 "    detection_type: WORD\n    outcome: failure")
    for rules, run in ((text_fails, "run-2"), (PRESET, "run-3")):
        outcome, detector = rejudge(rules, run)
        # THEN not re-judgeable (re-analyse those), nothing moved, no call made
        assert str(outcome["status"]) == "not_rejudgeable" and "lacks" in outcome["why"]
        assert dict(detector.calls) == {}
    assert sorted(world.keys("analyzed/")) == ["analyzed/review/bad.jpg"]
