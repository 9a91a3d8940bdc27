"""Faces off-line: replay serves recorded DetectFaces responses; the local backend says clearly
that no offline model stands in for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer.ports import BytesImage, Detection, ImageSource
from imgpipe.local.detector import check_offline
from imgpipe.local.errors import NoOfflineModelError, RecordingMismatchError
from imgpipe.local.replay import RecordingDetector, RecordingStore, ReplayDetector
from rules import Analysis, Needs, load_ruleset
from tests.support.paths import ROOT, sample

CHILD = json.loads((ROOT / "tests/events/rekognition/detect_faces/child.json").read_text())
FACES = Needs(extra=frozenset({"faces"}))


class FacesDetector:
    """Answers DetectFaces with the recorded child photo."""

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        detection = Detection()
        if "faces" in needs.extra:
            detection.responses["faces"] = CHILD
            detection.calls["DetectFaces"] = 1
        return detection


def test_replay_serves_recorded_faces(tmp_path: Path) -> None:
    # GIVEN a photo recorded with rules that need faces
    store = RecordingStore(tmp_path)
    image = BytesImage(sample("animals/cat.jpg"), "kids.jpg")
    RecordingDetector(FacesDetector(), store, backend="rekognition").detect(image, FACES)
    # WHEN it is replayed with the content-moderation preset's faces rule
    replayed = ReplayDetector(store).detect(image, FACES)
    # THEN the faces response comes back, with no call and the API's timing slot
    assert replayed.responses == {"faces": CHILD}
    assert replayed.calls == {} and replayed.timings_ms == {"DetectFaces": 0.0}
    preset = load_ruleset(ROOT / "rules/presets/content-moderation.yaml")
    analysis = Analysis.from_responses(
        moderation={"ModerationLabels": []}, text={"TextDetections": []},
        extra={"faces": replayed.responses["faces"]})
    assert preset.evaluate(analysis).verdict == "review"


def test_replay_of_a_recording_without_faces_says_so(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    image = BytesImage(sample("animals/cat.jpg"), "cat.jpg")
    RecordingDetector(FacesDetector(), store).detect(image, Needs.of("labels"))
    with pytest.raises(RecordingMismatchError, match=r"lacks faces"):
        ReplayDetector(store).detect(image, FACES)


def test_the_local_backend_names_the_analysis_it_cannot_run() -> None:
    ppe = Needs(extra=frozenset({"protective_equipment"}))
    with pytest.raises(NoOfflineModelError, match=r"no offline model for the 'protective_equipment' analysis \(DetectProtectiveEquipment\); use --backend rekognition"):
        check_offline(Needs.of("labels") | FACES | ppe)
    check_offline(Needs.of("labels", "moderation", "text") | FACES)  # these have offline models


def test_local_faces_are_boxes_without_age() -> None:
    from imgpipe.local.detector import LocalDetector
    from rules.faces import faces_of

    # WHEN the astronaut photo is analysed offline for faces
    detection = LocalDetector(threads=1).detect(BytesImage(sample("people/astronaut.jpg"), "a.jpg"), FACES)
    # THEN one face with a box and a confidence, and nothing a rule on age could use
    faces = faces_of(Analysis.from_responses(extra={"faces": detection.responses["faces"]}))
    assert len(faces) == 1 and faces[0].confidence >= 50 and faces[0].age_low is None
    assert detection.calls == {"DetectFaces": 1} and detection.model_versions["DetectFaces"] == "local:centerface"
