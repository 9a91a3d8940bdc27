"""Faces in the real flow (moto): upload -> SQS -> handler -> DetectFaces -> review for minors."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber

from analyzer.ports import Detection, ImageSource, S3Image
from analyzer.rekognition import RekognitionDetector
from rules import Needs
from tests.support.paths import rekognition_response, sample

RULES = """version: 1
name: faces-flow
default_verdict: success
rules:
  - name: minor
    type: faces
    max_age: 17
    min_confidence: 90
    outcome: review
  - name: portrait
    type: faces
    min_count: 1
    max_count: 1
    outcome: tag
"""
FACES = {"kid": "child", "crowd": "group", "tree": "none"}


class StubbedRekognition:
    """The real Rekognition adapter, over a Stubber client answering the photo's recording."""

    def __init__(self) -> None:
        self.needs: list[Needs] = []

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        assert isinstance(image, S3Image)
        self.needs.append(needs)
        scenario = next(v for k, v in FACES.items() if k in image.key)
        client = boto3.client("rekognition", region_name="eu-west-1")
        with Stubber(client) as stub:
            stub.add_response(
                "detect_faces", rekognition_response("detect_faces", scenario),
                {"Image": {"S3Object": {"Bucket": image.bucket, "Name": image.key}},
                 "Attributes": ["ALL"]})
            detection = RekognitionDetector(client).detect(image, needs)
            stub.assert_no_pending_responses()
        return detection


def test_faces_rules_route_minors_to_review(world: Any) -> None:
    # GIVEN three photos uploaded under rules that only need faces
    for name in FACES:
        world.put(f"images/{name}.jpg", sample("animals/cat.jpg"), ContentType="image/jpeg")
    event = world.receive_event()
    detector = StubbedRekognition()
    analyzer = world.analyzer(detector, rules=RULES)

    # WHEN the handler gets the batch
    assert analyzer.handle(event, None) == {"batchItemFailures": []}

    # THEN only DetectFaces was asked for, and each photo went where its faces say
    assert all(n == Needs(extra=frozenset({"faces"})) for n in detector.needs)
    expected = {"kid": ("review", ["minor", "portrait"]), "crowd": ("review", ["minor"]),
                "tree": ("success", [])}
    for name, (verdict, categories) in expected.items():
        record = world.json(f"results/{verdict}/{name}.jpg.json")
        assert record["verdict"] == verdict and record["categories"] == categories
        assert record["calls"] == {"DetectFaces": 1}
        assert record["features"] == ["faces"]
        assert world.read(f"analyzed/{verdict}/{name}.jpg") == sample("animals/cat.jpg")
    notes = {n["body"]["source_key"]: n["body"]["verdict"] for n in world.notifications()}
    assert notes == {f"images/{k}.jpg": v for k, (v, _) in expected.items()}
