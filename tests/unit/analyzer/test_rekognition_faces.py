"""DetectFaces through the Rekognition adapter: called with Attributes ALL only when needed."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber

from analyzer.ports import S3Image
from analyzer.rekognition import RekognitionDetector, client_config
from rules import Needs
from tests.support.paths import rekognition_response

IMAGE = S3Image(bucket="imgpipe-dev-images", key="images/kids.jpg")
S3_PARAM = {"S3Object": {"Bucket": "imgpipe-dev-images", "Name": "images/kids.jpg"}}


def _client() -> Any:
    return boto3.client("rekognition", region_name="eu-west-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=client_config("standard", 1))


def test_faces_needs_call_detect_faces_with_all_attributes() -> None:
    # GIVEN rules that need moderation and faces
    client = _client()
    with Stubber(client) as stub:
        stub.add_response("detect_moderation_labels",
                          rekognition_response("detect_moderation_labels", "empty"), {"Image": S3_PARAM})
        stub.add_response("detect_faces", rekognition_response("detect_faces", "child"),
                          {"Image": S3_PARAM, "Attributes": ["ALL"]})
        # WHEN the image is analysed
        detection = RekognitionDetector(client).detect(
            IMAGE, Needs.of("moderation") | Needs(extra=frozenset({"faces"})))
        stub.assert_no_pending_responses()
    # THEN both APIs were called once and the faces response is kept without metadata
    assert detection.calls == {"DetectModerationLabels": 1, "DetectFaces": 1}
    assert set(detection.responses) == {"moderation", "faces"}
    assert "ResponseMetadata" not in detection.responses["faces"]
    assert detection.responses["faces"]["FaceDetails"][0]["AgeRange"] == {"Low": 6, "High": 12}
    assert "DetectFaces" in detection.timings_ms


def test_labels_only_never_calls_detect_faces() -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_response("detect_labels", rekognition_response("detect_labels", "cat"),
                          {"Image": S3_PARAM, "Features": ["GENERAL_LABELS"]})
        detection = RekognitionDetector(client).detect(IMAGE, Needs.of("labels"))
        stub.assert_no_pending_responses()
    assert detection.calls == {"DetectLabels": 1}
