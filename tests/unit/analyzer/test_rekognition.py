"""The Rekognition adapter against botocore's Stubber: calls, parameters, error classes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from analyzer.errors import PermanentImageError
from analyzer.ports import BytesImage, S3Image
from analyzer.rekognition import RekognitionDetector, client_config, is_throttling
from rules import Needs
from tests.support.paths import rekognition_response

IMAGE = S3Image(bucket="imgpipe-dev-images", key="images/a/b c.jpg")
S3_PARAM = {"S3Object": {"Bucket": "imgpipe-dev-images", "Name": "images/a/b c.jpg"}}


def _client(region: str = "eu-west-1") -> Any:
    return boto3.client("rekognition", region_name=region, aws_access_key_id="x",
                        aws_secret_access_key="x", config=client_config("standard", 1))


@pytest.fixture
def client() -> Iterator[tuple[Any, Stubber]]:
    c = _client()
    with Stubber(c) as stub:
        yield c, stub
        stub.assert_no_pending_responses()


def test_labels_only_needs_make_exactly_one_call(client: tuple[Any, Stubber]) -> None:
    # GIVEN a ruleset that needs only general labels
    c, stub = client
    stub.add_response("detect_labels", rekognition_response("detect_labels", "cat"),
                      {"Image": S3_PARAM, "Features": ["GENERAL_LABELS"]})
    # WHEN an image is analysed (any other call would fail: the stubber has no response for it)
    detection = RekognitionDetector(c).detect(IMAGE, Needs.of("labels"))
    # THEN one DetectLabels call by S3 reference, with only the needed Features
    assert detection.calls == {"DetectLabels": 1}
    assert detection.responses["labels"]["Labels"][0]["Name"] == "Cat"
    assert "ResponseMetadata" not in detection.responses["labels"]


def test_all_three_apis_with_image_properties(client: tuple[Any, Stubber]) -> None:
    c, stub = client
    labels = rekognition_response("detect_labels", "cat") | {"LabelModelVersion": "3.0"}
    stub.add_response("detect_labels", labels, {
        "Image": S3_PARAM, "Features": ["GENERAL_LABELS", "IMAGE_PROPERTIES"], "MinConfidence": 40.0,
    })
    stub.add_response("detect_moderation_labels",
                      rekognition_response("detect_moderation_labels", "cat"),
                      {"Image": S3_PARAM})
    stub.add_response("detect_text", rekognition_response("detect_text", "cat"), {"Image": S3_PARAM})
    needs = Needs(labels=frozenset({"GENERAL_LABELS", "IMAGE_PROPERTIES"}), moderation=True, text=True)
    detection = RekognitionDetector(c, labels_min_confidence=40.0).detect(IMAGE, needs)
    assert detection.calls == {"DetectLabels": 1, "DetectModerationLabels": 1, "DetectText": 1}
    assert set(detection.responses) == {"labels", "moderation", "text"}
    assert detection.model_versions["DetectLabels"] == "3.0"


def test_image_by_bytes(client: tuple[Any, Stubber]) -> None:
    c, stub = client
    stub.add_response("detect_text", rekognition_response("detect_text", "invoice"),
                      {"Image": {"Bytes": b"\xff\xd8\xff..."}})
    detection = RekognitionDetector(c).detect(BytesImage(b"\xff\xd8\xff...", "a.jpg"), Needs.of("text"))
    assert detection.calls == {"DetectText": 1}


def test_bytes_over_5_mb_are_permanent_without_a_call(client: tuple[Any, Stubber]) -> None:
    c, _ = client
    with pytest.raises(PermanentImageError) as info:
        RekognitionDetector(c).detect(BytesImage(b"\0" * (5 * 1024 * 1024 + 1)), Needs.of("labels"))
    assert info.value.reason == "rekognition:image_too_large"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("InvalidImageFormatException", "rekognition:invalid_image_format"),
        ("ImageTooLargeException", "rekognition:image_too_large"),
        ("InvalidS3ObjectException", "rekognition:invalid_s3_object"),
        ("InvalidParameterException", "rekognition:invalid_parameter"),
    ],
)
def test_permanent_errors(client: tuple[Any, Stubber], code: str, reason: str) -> None:
    c, stub = client
    stub.add_client_error("detect_moderation_labels", code, "Request has invalid image format.", 400)
    with pytest.raises(PermanentImageError) as info:
        RekognitionDetector(c).detect(IMAGE, Needs.of("moderation"))
    assert info.value.reason == reason
    assert isinstance(info.value.__cause__, ClientError)


@pytest.mark.parametrize(
    "code",
    ["ThrottlingException", "ProvisionedThroughputExceededException", "InternalServerError",
     "AccessDeniedException"],
)
def test_retryable_errors_are_re_raised_unwrapped(client: tuple[Any, Stubber], code: str) -> None:
    c, stub = client
    stub.add_client_error("detect_labels", code, "Slow down", 400)
    with pytest.raises(ClientError) as info:
        RekognitionDetector(c).detect(IMAGE, Needs.of("labels"))
    assert type(info.value) is not PermanentImageError
    assert info.value.response["Error"]["Code"] == code
    assert is_throttling(info.value) is (code in {"ThrottlingException",
                                                  "ProvisionedThroughputExceededException"})


def test_call_in_the_region_of_the_bucket() -> None:
    # GIVEN the function's client in eu-west-1 and an image in a us-east-1 bucket
    home, other = _client("eu-west-1"), _client("us-east-1")
    made: list[str] = []

    def for_region(name: str) -> Any:
        made.append(name)
        return other

    with Stubber(home) as home_stub, Stubber(other) as other_stub:
        other_stub.add_response("detect_labels", rekognition_response("detect_labels", "dog"))
        detector = RekognitionDetector(home, client_for_region=for_region)
        detector.detect(S3Image("bkt-other", "images/x.jpg", region="us-east-1"), Needs.of("labels"))
        # THEN the us-east-1 client was used; the home client was not called
        other_stub.assert_no_pending_responses()
        home_stub.assert_no_pending_responses()
    assert made == ["us-east-1"]


def test_retry_config() -> None:
    cfg = client_config("adaptive", 7)
    assert cfg.retries == {"mode": "adaptive", "total_max_attempts": 7}
