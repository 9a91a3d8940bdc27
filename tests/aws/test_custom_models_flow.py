"""Custom models in the real flow (moto): upload -> SQS -> handler -> the real Rekognition adapter
over a botocore Stubber client -> routing, record, SNS.

A Custom Labels model is the analysis ``custom_labels@<project version ARN>`` (DetectCustomLabels
with ``ProjectVersionArn`` and ``MinConfidence: 0``); a moderation rule with ``adapter:`` is
``moderation_adapter@<ARN>`` (DetectModerationLabels with ``ProjectVersion``). The Stubber checks
every request parameter, spelled out here as Rekognition's API reference names them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber
from typer.testing import CliRunner

from analyzer.ports import Detection, ImageSource, S3Image
from analyzer.rekognition import RekognitionDetector
from analyzer.stored import record_analysis
from imgpipe.cli import app
from rules import Needs
from tests.support.paths import rekognition_response, sample

REGION = "eu-west-1"
SHOES = "arn:aws:rekognition:eu-west-1:123456789012:project/shoes/version/shoes.2026-11-30/1764460800000"
DAMAGE = "arn:aws:rekognition:eu-west-1:123456789012:project/damage/version/damage.2026-11-02/1762041600000"
ADAPTER = ("arn:aws:rekognition:eu-west-1:123456789012:project/forum-moderation/version/"
           "forum-moderation.2026-11-20/1763596800000")

SHOES_RULES = f"""version: 1
name: shoes
default_verdict: success
rules:
  - name: sneakers
    type: custom_labels
    project_version: {SHOES}
    labels: [Sneaker]
    min_instances: 2
    min_confidence: 80
    outcome: review
"""

TWO_MODELS_RULES = SHOES_RULES + f"""  - name: damaged
    type: custom_labels
    project_version: {DAMAGE}
    labels: [damaged]
    min_confidence: 90
    outcome: failure
"""

ADAPTER_RULES = f"""version: 1
name: forum
default_verdict: success
rules:
  - name: explicit
    type: moderation
    adapter: {ADAPTER}
    categories: [Explicit]
    min_confidence: 80
    outcome: failure
"""


@dataclass(frozen=True, slots=True)
class Call:
    """One Rekognition call an image should cause: the method, the answer, the exact request
    parameters besides ``Image`` (which is always the image's S3 reference)."""

    method: str
    params: dict[str, Any]
    response: dict[str, Any] | None = None
    error: str | None = None  # a Rekognition error code instead of a response


def custom_labels(arn: str, scenario: str) -> Call:
    return Call("detect_custom_labels", {"ProjectVersionArn": arn, "MinConfidence": 0},
                rekognition_response("detect_custom_labels", scenario))


def adapter(arn: str, scenario: str) -> Call:
    return Call("detect_moderation_labels", {"ProjectVersion": arn},
                rekognition_response("detect_moderation_labels", scenario))


class StubbedRekognition:
    """The real Rekognition adapter, over a Stubber client expecting exactly ``calls(key)``."""

    def __init__(self, calls: Callable[[str], list[Call]]) -> None:
        self.calls = calls
        self.made: Counter[str] = Counter()
        self.needs: list[Needs] = []

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        assert isinstance(image, S3Image)
        self.needs.append(needs)
        client = boto3.client("rekognition", region_name=REGION)
        s3_object = {"S3Object": {"Bucket": image.bucket, "Name": image.key}}
        with Stubber(client) as stub:
            for call in self.calls(image.key):
                expected = {"Image": s3_object, **call.params}
                if call.error:
                    stub.add_client_error(call.method, call.error, f"{call.error} (stubbed)", 400,
                                          expected_params=expected)
                else:
                    stub.add_response(call.method, call.response, expected)
            try:
                return RekognitionDetector(client).detect(image, needs)
            finally:
                self.made.update(c.method for c in self.calls(image.key))
                stub.assert_no_pending_responses()


def upload(world: Any, *names: str) -> dict[str, Any]:
    for name in names:
        world.put(f"images/{name}.jpg", sample("animals/cat.jpg"), ContentType="image/jpeg")
    return dict(world.receive_event())


def test_a_custom_labels_rule_routes_by_the_models_boxes(world: Any) -> None:
    # GIVEN three photos under a rule on a Custom Labels model (two sneakers or more: review)
    scenes = {"pair": "sneakers_two", "bare": "empty"}
    event = upload(world, *scenes)
    detector = StubbedRekognition(
        lambda key: [custom_labels(SHOES, next(v for k, v in scenes.items() if k in key))])
    analyzer = world.analyzer(detector, rules=SHOES_RULES)

    # WHEN the handler gets the batch
    assert analyzer.handle(event, None) == {"batchItemFailures": []}

    # THEN only the model was asked (the Stubber checked ARN, MinConfidence 0 and the S3 object)
    analysis_id = f"custom_labels@{SHOES}"
    assert all(n == Needs(extra=frozenset({analysis_id})) for n in detector.needs)
    pair = world.json("results/review/pair.jpg.json")
    assert pair["calls"] == {"DetectCustomLabels": 1}
    assert pair["features"] == [analysis_id]
    assert pair["categories"] == ["sneakers"]
    assert pair["matches"][0]["evidence"] == [{"label": "Sneaker", "confidence": 96.12, "instances": 2}]
    # AND the record keeps the model's answer under its analysis id, for re-judging later
    assert pair["analysis"]["features"] == [analysis_id]
    stored = record_analysis(pair)
    assert stored is not None
    assert stored[analysis_id]["CustomLabels"][1]["Geometry"]["BoundingBox"]["Left"] == 0.5612
    bare = world.json("results/success/bare.jpg.json")
    assert bare["calls"] == {"DetectCustomLabels": 1} and bare["categories"] == []
    assert world.read("analyzed/review/pair.jpg") == sample("animals/cat.jpg")
    notes = {n["body"]["source_key"]: n["body"]["verdict"] for n in world.notifications()}
    assert notes == {"images/pair.jpg": "review", "images/bare.jpg": "success"}


def test_two_custom_labels_models_are_two_calls_and_two_stored_analyses(world: Any) -> None:
    # GIVEN rules on two models: an object detector (sneakers) and a classifier (damage)
    event = upload(world, "parcel")
    detector = StubbedRekognition(lambda key: [custom_labels(DAMAGE, "classification"),
                                               custom_labels(SHOES, "sneakers_two")])
    analyzer = world.analyzer(detector, rules=TWO_MODELS_RULES)

    # WHEN handled
    assert analyzer.handle(event, None) == {"batchItemFailures": []}

    # THEN one call per model (each with its own ARN), both answers stored under their own ids
    record = world.json("results/failure/parcel.jpg.json")
    assert record["calls"] == {"DetectCustomLabels": 2}
    ids = sorted([f"custom_labels@{SHOES}", f"custom_labels@{DAMAGE}"])
    assert record["features"] == ids and record["analysis"]["features"] == ids
    stored = record_analysis(record)
    assert stored is not None and sorted(stored) == ids
    assert "Geometry" not in stored[f"custom_labels@{DAMAGE}"]["CustomLabels"][0]  # classification
    # AND each model's rule judged its own answer: damaged (failure) and sneakers (review)
    assert record["categories"] == ["sneakers", "damaged"]
    assert {m["rule"]: m["evidence"] for m in record["matches"]} == {
        "sneakers": [{"label": "Sneaker", "confidence": 96.12, "instances": 2}],
        "damaged": [{"label": "damaged", "confidence": 93.71}],
    }


def explain(rules: Path, analysis: Path) -> Any:
    result = CliRunner().invoke(app, ["rules", "explain", str(rules), str(analysis), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_moderation_adapter_is_called_and_an_expired_one_still_judges(
    world: Any, tmp_path: Path
) -> None:
    # GIVEN two photos under a moderation rule with an adapter; for the second the adapter has
    # expired and Rekognition's base model answers (no ProjectVersion in the response)
    scenes = {"fresh": "adapter_explicit", "stale": "adapter_expired"}
    event = upload(world, *scenes)
    detector = StubbedRekognition(
        lambda key: [adapter(ADAPTER, next(v for k, v in scenes.items() if k in key))])
    analyzer = world.analyzer(detector, rules=ADAPTER_RULES)

    # WHEN handled
    assert analyzer.handle(event, None) == {"batchItemFailures": []}

    # THEN DetectModerationLabels was called with the adapter (ProjectVersion), once per image,
    # and both images are judged on what came back
    analysis_id = f"moderation_adapter@{ADAPTER}"
    for name, confidence in (("fresh", 97.35), ("stale", 88.02)):
        record = world.json(f"results/failure/{name}.jpg.json")
        assert record["calls"] == {"DetectModerationLabels": 1}
        assert record["features"] == [analysis_id]
        assert record["matches"][0]["evidence"][0]["confidence"] == confidence
    # AND the explanation says when the base model answered instead of the adapter
    rules = tmp_path / "rules.yaml"
    rules.write_text(ADAPTER_RULES)
    reasons = {}
    for name in scenes:
        doc = tmp_path / f"{name}.json"
        doc.write_text(json.dumps(record_analysis(world.json(f"results/failure/{name}.jpg.json"))))
        [rule] = explain(rules, doc)["rules"]
        reasons[name] = rule["reasons"]
    base_model = "the adapter had expired: Rekognition's base model answered instead"
    assert base_model in reasons["stale"] and base_model not in reasons["fresh"]


def test_motos_own_detect_custom_labels_through_the_real_adapter(world: Any) -> None:
    # GIVEN moto's canned DetectCustomLabels (AWS's documented example: one "MyLogo" box at 77.8)
    event = upload(world, "logo")
    rules = SHOES_RULES.replace("labels: [Sneaker]\n    min_instances: 2\n    min_confidence: 80",
                                "labels: [MyLogo]\n    min_confidence: 75")
    client = boto3.client("rekognition", region_name=REGION)

    # WHEN the real adapter calls moto
    assert world.analyzer(RekognitionDetector(client), rules=rules).handle(event, None) == {
        "batchItemFailures": []}

    # THEN the answer routed the image and is stored like Rekognition's
    record = world.json("results/review/logo.jpg.json")
    assert record["calls"] == {"DetectCustomLabels": 1}
    assert record["matches"][0]["evidence"] == [{"label": "MyLogo", "confidence": 77.77}]
