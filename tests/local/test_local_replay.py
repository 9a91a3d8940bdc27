"""Record once, replay forever: recordings keyed by content, merged, and replayed exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analyzer.errors import PermanentImageError
from analyzer.ports import BytesImage, Detection, ImageSource
from imgpipe.local.backends import Backend, BackendConfigError, make_detector
from imgpipe.local.errors import RecordingMismatchError, RecordingNotFoundError
from imgpipe.local.replay import RecordingDetector, RecordingStore, ReplayDetector, content_hash
from rules import Needs
from tests.support.paths import ROOT, sample

# real boto3 payloads of the analyzer's fixtures
LABELS = json.loads((ROOT / "tests/events/rekognition/detect_labels/cat.json").read_text())
TEXT = json.loads((ROOT / "tests/events/rekognition/detect_text/invoice.json").read_text())


class CannedDetector:
    """Answers every feature with a fixed boto3-shaped response; counts calls."""

    def __init__(self, error: PermanentImageError | None = None) -> None:
        self.error = error
        self.calls = 0

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        self.calls += 1
        if self.error:
            raise self.error
        detection = Detection()
        if needs.labels:
            detection.responses["labels"] = LABELS
            detection.model_versions["DetectLabels"] = "3.0"
        if needs.text:
            detection.responses["text"] = TEXT
        return detection


def test_replay_returns_exactly_what_was_recorded_whatever_the_file_name(tmp_path: Path) -> None:
    # GIVEN the cat photo recorded under one name
    store = RecordingStore(tmp_path)
    inner = CannedDetector()
    recorded = RecordingDetector(inner, store, backend="rekognition").detect(
        BytesImage(sample("animals/cat.jpg"), "trail-cam/IMG_0001.jpg"), Needs.of("labels", "text")
    )

    # WHEN the same bytes are replayed under another name
    replayed = ReplayDetector(store).detect(
        BytesImage(sample("animals/cat.jpg"), "elsewhere/cat.jpg"), Needs.of("labels")
    )

    # THEN the responses are identical, only the needed ones come back, and no call is counted
    assert replayed.responses == {"labels": recorded.responses["labels"]}
    assert replayed.calls == {}
    assert replayed.model_versions == {"DetectLabels": "3.0"}
    # AND the recording is one JSON file named by the content hash
    doc = json.loads((tmp_path / f"{content_hash(sample('animals/cat.jpg'))}.json").read_text())
    assert doc["backend"] == "rekognition" and doc["name"] == "trail-cam/IMG_0001.jpg"
    assert set(doc["responses"]) == {"labels", "text"}


def test_unrecorded_image_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingNotFoundError, match=r"no recording for dog\.jpg .* --record DIR"):
        ReplayDetector(RecordingStore(tmp_path)).detect(
            BytesImage(b"\xff\xd8\xffnew", "dog.jpg"), Needs.of("labels")
        )


def test_replay_refuses_a_recording_that_lacks_what_the_rules_need(tmp_path: Path) -> None:
    # GIVEN a recording made with rules that needed labels only
    store = RecordingStore(tmp_path)
    image = BytesImage(sample("documents/printed-page.png"), "page.png")
    RecordingDetector(CannedDetector(), store).detect(image, Needs.of("labels"))

    # WHEN new rules also need text THEN replay says what is missing
    with pytest.raises(RecordingMismatchError, match="lacks text"):
        ReplayDetector(store).detect(image, Needs.of("labels", "text"))
    # AND image properties count as missing too
    with pytest.raises(RecordingMismatchError, match=r"labels\.ImageProperties"):
        ReplayDetector(store).detect(
            image, Needs(labels=frozenset({"GENERAL_LABELS", "IMAGE_PROPERTIES"}))
        )


def test_recording_again_merges_new_analyses(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    image = BytesImage(sample("documents/printed-page.png"), "page.png")
    RecordingDetector(CannedDetector(), store).detect(image, Needs.of("labels"))
    RecordingDetector(CannedDetector(), store).detect(image, Needs.of("text"))

    replayed = ReplayDetector(store).detect(image, Needs.of("labels", "text"))
    assert replayed.responses == {"labels": LABELS, "text": TEXT}


def test_permanent_errors_are_recorded_and_replayed(tmp_path: Path) -> None:
    # GIVEN a backend that rejects an image for good
    store = RecordingStore(tmp_path)
    image = BytesImage(b"\x89PNG\r\n\x1a\nbroken", "broken.png")
    error = PermanentImageError("rekognition:invalid_image_format", "DetectLabels: bad image")
    with pytest.raises(PermanentImageError):
        RecordingDetector(CannedDetector(error), store).detect(image, Needs.of("labels"))

    # WHEN replayed THEN the same reason comes back, without any model
    with pytest.raises(PermanentImageError) as info:
        ReplayDetector(store).detect(image, Needs.of("labels"))
    assert (info.value.reason, info.value.message) == (
        "rekognition:invalid_image_format",
        "DetectLabels: bad image",
    )


def test_backend_factory(tmp_path: Path) -> None:
    with pytest.raises(BackendConfigError, match="give --record DIR"):
        make_detector(Backend.REPLAY)
    with pytest.raises(BackendConfigError, match="no such folder"):
        make_detector("replay", record_dir=tmp_path / "absent")
    assert isinstance(make_detector("replay", record_dir=tmp_path), ReplayDetector)
    recorder = make_detector("rekognition", record_dir=tmp_path, rekognition_client=_FakeClient())
    assert isinstance(recorder, RecordingDetector) and recorder.backend == "rekognition"


class _FakeClient:
    def __getattr__(self, name: str) -> Any:  # never called in this test
        raise AssertionError(name)


def test_rekognition_backend_sends_bytes_and_its_answers_replay_identically(tmp_path: Path) -> None:
    import boto3
    from botocore.stub import Stubber

    # GIVEN a Rekognition client stubbed with real payloads, behind --backend rekognition --record
    client = boto3.client(
        "rekognition", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    data = sample("animals/cat.jpg")
    with Stubber(client) as stub:
        stub.add_response(
            "detect_labels", LABELS, {"Image": {"Bytes": data}, "Features": ["GENERAL_LABELS"]}
        )
        detector = make_detector("rekognition", record_dir=tmp_path, rekognition_client=client)

        # WHEN it analyses a local file
        live = detector.detect(BytesImage(data, "cat.jpg"), Needs.of("labels"))
        stub.assert_no_pending_responses()

    # THEN Rekognition got the bytes, once, and replay gives back the same response for free
    assert live.calls == {"DetectLabels": 1}
    replayed = ReplayDetector(RecordingStore(tmp_path)).detect(
        BytesImage(data, "renamed.jpg"), Needs.of("labels")
    )
    assert replayed.responses == live.responses


def test_rekognition_backend_without_credentials_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from imgpipe.local.errors import LocalError

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(LocalError, match="no AWS credentials found"):
        make_detector("rekognition")
