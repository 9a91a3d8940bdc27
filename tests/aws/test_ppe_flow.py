"""Protective equipment in the real flow (moto) through the real Rekognition adapter (Stubber):
a worker without a helmet goes to review; replay serves the recording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber

from analyzer.ports import BytesImage, Detection, ImageSource, S3Image
from analyzer.rekognition import RekognitionDetector
from imgpipe.local.replay import RecordingDetector, RecordingStore, ReplayDetector
from rules import Needs
from tests.support.paths import ROOT, rekognition_response, sample

RULES = (ROOT / "tests/events/rules/workplace-safety.yaml").read_text()
SCENES = {"site": "two_workers", "kitted": "worker_helmet_mask"}
PPE = Needs(extra=frozenset({"protective_equipment"}))


class StubbedRekognition:
    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        assert isinstance(image, S3Image)
        scenario = next(v for k, v in SCENES.items() if k in image.key)
        client = boto3.client("rekognition", region_name="eu-west-1")
        with Stubber(client) as stub:
            stub.add_response("detect_protective_equipment",
                              rekognition_response("detect_protective_equipment", scenario),
                              {"Image": {"S3Object": {"Bucket": image.bucket, "Name": image.key}}})
            detection = RekognitionDetector(client).detect(image, needs)
            stub.assert_no_pending_responses()
        return detection


def test_workers_without_helmets_go_to_review(world: Any) -> None:
    for name in SCENES:
        world.put(f"images/{name}.jpg", sample("animals/cat.jpg"), ContentType="image/jpeg")
    event = world.receive_event()
    analyzer = world.analyzer(StubbedRekognition(), rules=RULES)
    assert analyzer.handle(event, None) == {"batchItemFailures": []}
    site = world.json("results/review/site.jpg.json")
    assert site["categories"] == ["no-helmet"] and site["calls"] == {"DetectProtectiveEquipment": 1}
    assert site["matches"][0]["evidence"] == [{"person": 1, "confidence": 98.8, "missing": ["HEAD_COVER"]}]
    assert world.json("results/success/kitted.jpg.json")["categories"] == []


def test_replay_serves_recorded_protective_equipment(tmp_path: Path) -> None:
    recording = rekognition_response("detect_protective_equipment", "two_workers")

    class Canned:
        def detect(self, image: ImageSource, needs: Needs) -> Detection:
            detection = Detection()
            detection.responses["protective_equipment"] = recording
            return detection

    store = RecordingStore(tmp_path)
    image = BytesImage(sample("animals/cat.jpg"), "site.jpg")
    RecordingDetector(Canned(), store, backend="rekognition").detect(image, PPE)
    replayed = ReplayDetector(store).detect(image, PPE)
    assert replayed.responses == {"protective_equipment": recording}
    assert replayed.timings_ms == {"DetectProtectiveEquipment": 0.0}


def test_the_local_backend_names_protective_equipment() -> None:
    import pytest

    from imgpipe.local.detector import check_offline
    from imgpipe.local.errors import NoOfflineModelError

    with pytest.raises(NoOfflineModelError, match=r"'protective_equipment' analysis \(DetectProtectiveEquipment\)"):
        check_offline(PPE)
