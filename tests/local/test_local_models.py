"""The offline models on real photos shipped by packages (see samples/README.md), and the shapes of
their responses checked against botocore's own Rekognition service model."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from analyzer.errors import PermanentImageError
from analyzer.ports import BytesImage, S3Image
from imgpipe.local import moderation
from imgpipe.local.detector import LocalDetector
from rules import Analysis, Needs
from tests.support.fakes import ALL_NEEDS
from tests.support.paths import PHOTOS, sample

pytestmark = pytest.mark.slow

OPERATIONS = {"labels": "DetectLabels", "moderation": "DetectModerationLabels", "text": "DetectText"}


FULL = Needs(labels=frozenset({"GENERAL_LABELS", "IMAGE_PROPERTIES"}), moderation=True, text=True)
_CACHE: dict[tuple[str, Needs], dict[str, Any]] = {}


def _detect(detector: LocalDetector, rel: str, needs: Needs = ALL_NEEDS) -> dict[str, Any]:
    """Responses for ``needs`` (each photo is analysed once per test process and needs)."""
    key = (rel, needs)
    if key not in _CACHE:
        _CACHE[key] = detector.detect(BytesImage(sample(rel), rel), needs).responses
    return _CACHE[key]


def _labels(responses: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {label["Name"]: label for label in responses["labels"]["Labels"]}


@pytest.fixture(scope="module")
def service_model() -> Any:
    return botocore.session.get_session().get_service_model("rekognition")


@pytest.mark.parametrize("rel", PHOTOS)
def test_responses_have_the_exact_boto3_shapes(detector: LocalDetector, service_model: Any, rel: str) -> None:
    # GIVEN a real photo WHEN the local backend analyses it for all three features
    responses = _detect(detector, rel, FULL)

    # THEN each response validates against the operation's output shape in botocore's model
    for feature, operation in OPERATIONS.items():
        shape = service_model.operation_model(operation).output_shape
        report = ParamValidator().validate(responses[feature], shape)
        assert not report.has_errors(), f"{rel} {operation}: {report.generate_report()}"
    # AND the rules engine parses them
    analysis = Analysis.from_responses(**responses)
    assert analysis.labels is not None and analysis.moderation is not None and analysis.text is not None


def test_cat_photo_is_a_cat_and_an_animal_above_80(detector: LocalDetector) -> None:
    # GIVEN Chelsea the cat WHEN labelled
    labels = _labels(_detect(detector, "animals/cat.jpg", FULL))

    # THEN Cat and Animal are above 80, with Rekognition-style parents, and no person is seen
    assert labels["Cat"]["Confidence"] > 80
    assert labels["Animal"]["Confidence"] > 80
    assert {p["Name"] for p in labels["Cat"]["Parents"]} >= {"Pet", "Mammal", "Animal"}
    assert labels["Cat"]["Categories"] == [{"Name": "Animals and Pets"}]
    assert "Person" not in labels and "Dog" not in labels


def test_coffee_photo_is_a_cup_and_a_drink(detector: LocalDetector) -> None:
    # GIVEN the espresso cup WHEN labelled
    labels = _labels(_detect(detector, "objects/coffee-cup.jpg", FULL))

    # THEN a cup label and a drink label (Beverage, alias Drink) are above 80
    assert labels["Cup"]["Confidence"] > 80
    assert labels["Beverage"]["Confidence"] > 80
    assert {"Name": "Drink"} in labels["Beverage"]["Aliases"]
    assert "Animal" not in labels


def test_rocket_photo_is_a_vehicle(detector: LocalDetector) -> None:
    labels = _labels(_detect(detector, "objects/rocket.jpg", FULL))
    assert labels["Vehicle"]["Confidence"] > 60
    assert {p["Name"] for p in labels["Rocket"]["Parents"]} == {"Vehicle", "Transportation"}


@pytest.mark.parametrize("rel", ["people/astronaut.jpg", "people/grace-hopper.jpg"])
def test_portraits_have_a_person_box_and_a_face_box(detector: LocalDetector, rel: str) -> None:
    # GIVEN a portrait WHEN labelled
    labels = _labels(_detect(detector, rel, FULL))

    # THEN Person is above 90 with exactly one instance: the person's box from the object
    # detector (it was the face's box when faces made people: the body box is what Rekognition
    # returns), which holds the one Face instance, in the upper image half
    person = labels["Person"]
    assert person["Confidence"] > 90
    assert {"Name": "Human"} in person["Aliases"]
    (instance,) = person["Instances"]
    body = instance["BoundingBox"]
    assert 0 <= body["Left"] < body["Left"] + body["Width"] <= 1
    assert body["Width"] > 0.4 and body["Height"] > 0.6
    (face,) = labels["Face"]["Instances"]
    box = face["BoundingBox"]
    assert 0 <= box["Top"] < 0.5 and box["Top"] + box["Height"] <= 1
    assert 0.05 < box["Width"] < 0.6
    assert body["Left"] <= box["Left"] and box["Left"] + box["Width"] <= body["Left"] + body["Width"] + 0.01
    assert [p["Name"] for p in labels["Face"]["Parents"]] == ["Head", "Person"]


@pytest.mark.parametrize("rel", ["animals/cat.jpg", "animals/raccoon.jpg", "objects/coffee-cup.jpg"])
def test_no_person_on_photos_without_people(detector: LocalDetector, rel: str) -> None:
    labels = _labels(_detect(detector, rel, FULL))
    assert "Person" not in labels and "Face" not in labels


def test_printed_page_reads_the_right_words(detector: LocalDetector) -> None:
    # GIVEN the scanned page of printed text WHEN read
    detections = _detect(detector, "documents/printed-page.png", FULL)["text"]["TextDetections"]

    # THEN its lines and words are read, with LINE/WORD links and confidences >= the floor
    lines = {d["Id"]: d for d in detections if d["Type"] == "LINE"}
    words = [d for d in detections if d["Type"] == "WORD"]
    assert "Region-based segmentation" in {d["DetectedText"] for d in lines.values()}
    assert any("determine markers of the coins" in d["DetectedText"] for d in lines.values())
    texts = {w["DetectedText"] for w in words}
    assert {"Region-based", "segmentation", "markers", "background.", "histogram"} <= texts
    assert all(w["ParentId"] in lines for w in words)
    assert all(d["Confidence"] >= 80 for d in detections)
    # AND ids are LINEs first, then WORDs, numbered without gaps
    assert [d["Id"] for d in detections] == list(range(len(detections)))
    assert detections[len(lines) - 1]["Type"] == "LINE" and detections[len(lines)]["Type"] == "WORD"


@pytest.mark.parametrize("rel", PHOTOS)
def test_benign_photos_get_no_moderation_label_above_the_threshold(detector: LocalDetector, rel: str) -> None:
    # GIVEN a benign photo WHEN moderated
    response = _detect(detector, rel, FULL)["moderation"]

    # THEN no label reaches the documented suggestive threshold, and the taxonomy is model 7
    assert [m for m in response["ModerationLabels"] if m["Confidence"] >= moderation.SUGGESTIVE_THRESHOLD * 100] == []
    assert response["ModerationModelVersion"] == "7.0"


def test_only_the_needed_analyses_run(detector: LocalDetector) -> None:
    # GIVEN rules that need only text WHEN the detector runs
    detection = detector.detect(BytesImage(sample("documents/printed-page.png"), "page"), Needs.of("text"))

    # THEN only DetectText was "called", once
    assert set(detection.responses) == {"text"}
    assert detection.calls == {"DetectText": 1}
    assert detection.model_versions == {"DetectText": "local:rapidocr"}


def test_image_properties_only_when_asked(detector: LocalDetector) -> None:
    plain = _detect(detector, "animals/cat.jpg", Needs.of("labels"))["labels"]
    both = _detect(detector, "animals/cat.jpg", FULL)
    assert "ImageProperties" not in plain
    quality = both["labels"]["ImageProperties"]["Quality"]
    assert all(0 <= quality[k] <= 100 for k in ("Brightness", "Sharpness", "Contrast"))


def test_undecodable_bytes_are_a_permanent_error_like_rekognition(detector: LocalDetector) -> None:
    # GIVEN a JPEG header followed by garbage (passes the pre-check's sniffing, cannot be decoded)
    data = sample("animals/cat.jpg")[:600] + b"\x00" * 64
    with pytest.raises(PermanentImageError) as info:
        detector.detect(BytesImage(data, "broken.jpg"), Needs.of("labels"))
    assert info.value.reason == "rekognition:invalid_image_format"


def test_s3_references_are_refused(detector: LocalDetector) -> None:
    with pytest.raises(Exception, match="reads image bytes"):
        detector.detect(S3Image("bucket", "images/x.jpg"), Needs.of("labels"))
