"""Rejections and errors in moto: pre-checks, each Rekognition error class, throttling."""

from __future__ import annotations

import struct
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from analyzer.rekognition import RekognitionDetector, client_config
from tests.support.fakes import LABELS_ONLY_RULES, FakeDetector
from tests.support.images import picture
from tests.support.paths import rekognition_response, sample

HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 2048
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" * 4


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming the given size, then filler (a big scan, cut short)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0\0\0\0" + b"\0" * 70_000


REJECTIONS = {
    "images/gif named.jpg": (sample("invalid/cat.gif"), "unsupported_format:gif"),
    "images/text.jpg": (sample("invalid/not-an-image.jpg"), "not_an_image"),
    "images/scan.jpg": (PDF, "not_an_image:pdf"),
    "images/iphone.jpg": (HEIC, "unsupported_format:heic"),
    "images/icon.png": (picture(64, 64, "PNG"), "too_small"),
    "images/panorama.png": (_png_header_only(12_000, 3_000), "too_big_dimensions"),
    "images/empty.jpg": (b"", "empty"),
    "images/cut.jpg": (picture(200, 200)[:40], "truncated"),
}


def test_every_precheck_rejection_goes_to_failure_with_zero_rekognition_calls(world: Any) -> None:
    # GIVEN objects that are not analysable images, and one real photo
    for key, (data, _) in REJECTIONS.items():
        world.put(key, data)
    world.put("images/cat.jpg", sample("animals/cat.jpg"))
    detector = FakeDetector.for_scenarios({"cat": "cat"})
    # WHEN the batch is handled
    response = world.analyzer(detector).handle(world.receive_event(), None)
    # THEN each went to the failure folder with its machine-readable reason
    assert response == {"batchItemFailures": []}
    for key, (_, reason) in REJECTIONS.items():
        rel = key.removeprefix("images/")
        assert world.tags(f"analyzed/failure/{rel}")["reason"] == reason
        record = world.json(f"results/failure/{rel}.json")
        assert (record["verdict"], record["reason"], record["calls"]) == ("failure", reason, {})
    # AND Rekognition saw only the real photo
    assert [i.key for i in detector.images] == ["images/cat.jpg"]
    assert sorted(world.keys("images/")) == []
    reasons = {n["body"]["source_key"]: n["body"]["reason"] for n in world.notifications()}
    assert reasons["images/iphone.jpg"] == "unsupported_format:heic"


def test_too_large_by_head_object_alone(world: Any) -> None:
    # GIVEN an object one byte over Rekognition's 15 MB S3 limit
    world.put("images/huge.jpg", picture(100, 100) + b"\0" * (15 * 1024 * 1024))
    detector = FakeDetector()
    analyzer = world.analyzer(detector)
    reads: list[str] = []
    analyzer.s3_client.meta.events.register("before-call.s3.GetObject", lambda **kw: reads.append("get"))
    # WHEN handled
    assert analyzer.handle(world.receive_event(), None) == {"batchItemFailures": []}
    # THEN rejected from the HeadObject size: no ranged GET, no Rekognition
    assert world.json("results/failure/huge.jpg.json")["reason"] == "too_large"
    assert reads == [] and detector.images == []


def _stubbed_rekognition() -> tuple[Any, Stubber]:
    client = boto3.client("rekognition", region_name="eu-west-1", config=client_config("standard", 1))
    return client, Stubber(client)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("InvalidImageFormatException", "rekognition:invalid_image_format"),
        ("ImageTooLargeException", "rekognition:image_too_large"),
        ("InvalidS3ObjectException", "rekognition:invalid_s3_object"),
        ("InvalidParameterException", "rekognition:invalid_parameter"),
    ],
)
def test_permanent_rekognition_errors(world: Any, code: str, reason: str) -> None:
    # GIVEN Rekognition (stubbed) refusing the image permanently
    world.put("images/odd.jpg", sample("objects/rocket.jpg"))
    client, stub = _stubbed_rekognition()
    stub.add_client_error("detect_labels", code, "refused", 400)
    with stub:
        response = world.analyzer(RekognitionDetector(client)).handle(world.receive_event(), None)
        stub.assert_no_pending_responses()
    # THEN the message succeeds and the image is in the failure folder with the reason
    assert response == {"batchItemFailures": []}
    assert sorted(world.keys()) == ["analyzed/failure/odd.jpg", "results/failure/odd.jpg.json"]
    record = world.json("results/failure/odd.jpg.json")
    assert record["reason"] == reason and record["verdict"] == "failure"


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
def test_throttling_fails_only_that_item_and_leaves_its_source(world: Any, code: str) -> None:
    # GIVEN three images; Rekognition throttles the rocket
    world.put("images/cat.jpg", sample("animals/cat.jpg"))
    world.put("images/rocket.jpg", sample("objects/rocket.jpg"))
    world.put("images/astronaut.jpg", sample("people/astronaut.jpg"))
    event = world.receive_event()
    rocket_id = next(r["messageId"] for r in event["Records"] if "rocket" in r["body"])
    throttle = ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "DetectLabels")
    detector = FakeDetector.for_scenarios(
        {"cat": "cat", "astronaut": "beach"},
        error=lambda image: throttle if "rocket" in image.key else None,
    )
    # WHEN handled
    response = world.analyzer(detector).handle(event, None)
    # THEN only the rocket's message is reported, its source untouched; batch-mates are done
    assert response == {"batchItemFailures": [{"itemIdentifier": rocket_id}]}
    assert sorted(world.keys("images/")) == ["images/rocket.jpg"]
    assert sorted(world.keys("analyzed/")) == ["analyzed/review/astronaut.jpg", "analyzed/success/cat.jpg"]
    assert sorted(world.keys("results/")) == ["results/review/astronaut.jpg.json",
                                      "results/success/cat.jpg.json"]
    assert len(world.notifications()) == 2


def test_every_item_failing_is_reported_not_raised(world: Any) -> None:
    for name in ("a", "b", "c"):
        world.put(f"images/{name}.jpg", sample("animals/cat.jpg"))
    event = world.receive_event()
    throttle = ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "DetectLabels")
    response = world.analyzer(FakeDetector(error=throttle)).handle(event, None)
    image_ids = {r["messageId"] for r in event["Records"] if '"Records"' in r["body"]}
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == image_ids
    assert sorted(world.keys()) == ["images/a.jpg", "images/b.jpg", "images/c.jpg"]


def test_labels_only_ruleset_makes_exactly_one_rekognition_call(world: Any) -> None:
    # GIVEN a ruleset that only needs labels, and the real adapter over a stubbed client
    world.put("images/cat.jpg", sample("animals/cat.jpg"))
    client, stub = _stubbed_rekognition()
    calls: list[str] = []
    client.meta.events.register("before-parameter-build.rekognition",
                                lambda model, **kw: calls.append(model.name))
    stub.add_response(
        "detect_labels", rekognition_response("detect_labels", "cat"),
        {"Image": {"S3Object": {"Bucket": world.bucket, "Name": "images/cat.jpg"}},
         "Features": ["GENERAL_LABELS"]},
    )
    # WHEN the image is handled
    with stub:
        analyzer = world.analyzer(RekognitionDetector(client), rules=LABELS_ONLY_RULES)
        assert analyzer.handle(world.receive_event(), None) == {"batchItemFailures": []}
        stub.assert_no_pending_responses()
    # THEN exactly one call, DetectLabels, and the image was routed by it
    assert calls == ["DetectLabels"]
    assert world.json("results/success/cat.jpg.json")["calls"] == {"DetectLabels": 1}
