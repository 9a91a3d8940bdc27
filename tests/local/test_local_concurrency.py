"""The local detector's thread budget: with 2 or more threads per image, text recognition runs in a
helper thread beside the other models, and the responses are the same as the sequential path's."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from analyzer.ports import BytesImage
from imgpipe.local.detector import LocalDetector, LocalModels
from imgpipe.local.labels import FaceBox
from rules import Needs
from tests.support.fakes import ALL_NEEDS
from tests.support.paths import sample


def test_one_thread_per_image_runs_everything_in_sequence() -> None:
    models = LocalModels(threads=1)
    assert (models.split, models.threads, models.ocr_threads) == (False, 1, 1)


@pytest.mark.parametrize("threads", [2, 4])
def test_two_or_more_threads_run_text_recognition_beside_the_other_models(threads: int) -> None:
    models = LocalModels(threads=threads)
    assert (models.split, models.threads, models.ocr_threads) == (True, threads - 1, threads)


class _Prediction:
    nsfw = 0.01


class _Recorder:
    """Fake models recording the thread each one ran in."""

    def __init__(self, fail: bool = False) -> None:
        self.threads: dict[str, str] = {}
        self.fail = fail
        self.text_done = threading.Event()

    def probabilities(self, rgb: np.ndarray) -> np.ndarray:
        self.threads["classifier"] = threading.current_thread().name
        if self.fail:
            raise RuntimeError("classifier failed")
        return np.full(1000, 1 / 1000)

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        # the object detector (and the face detector, which runs only when a person is found)
        self.threads["detect"] = threading.current_thread().name
        return []

    def classify(self, rgb: np.ndarray) -> _Prediction:
        self.threads["nsfw"] = threading.current_thread().name
        return _Prediction()

    def read(self, rgb: np.ndarray) -> dict[str, Any]:
        self.threads["ocr"] = threading.current_thread().name
        self.text_done.set()
        return {"TextDetections": [], "TextModelVersion": "local:rapidocr"}


class _FakeModels(LocalModels):
    def __init__(self, recorder: _Recorder, *, threads: int) -> None:
        super().__init__(threads=threads)
        self.recorder = recorder

    def classifier(self) -> Any:
        return self.recorder

    def faces(self) -> Any:
        return self.recorder

    def objects(self) -> Any:
        return self.recorder

    def nsfw(self) -> Any:
        return self.recorder

    def ocr(self) -> Any:
        return self.recorder


@pytest.mark.parametrize(("threads", "helper"), [(1, False), (2, True)])
def test_text_runs_in_a_helper_thread_only_with_a_split_budget(threads: int, helper: bool) -> None:
    recorder = _Recorder()
    detector = LocalDetector(_FakeModels(recorder, threads=threads))

    detection = detector.detect(BytesImage(sample("animals/cat.jpg"), "cat"), ALL_NEEDS)

    here = threading.current_thread().name
    assert {recorder.threads[m] for m in ("classifier", "detect", "nsfw")} == {here}
    assert (recorder.threads["ocr"] != here) is helper
    assert set(detection.responses) == {"labels", "moderation", "text"}
    assert detection.calls == {"DetectLabels": 1, "DetectModerationLabels": 1, "DetectText": 1}
    assert set(detection.timings_ms) == set(detection.calls)


def test_text_alone_runs_in_the_calling_thread_even_with_a_split_budget() -> None:
    recorder = _Recorder()
    detector = LocalDetector(_FakeModels(recorder, threads=2))

    detection = detector.detect(BytesImage(sample("animals/cat.jpg"), "cat"), Needs.of("text"))

    assert recorder.threads == {"ocr": threading.current_thread().name}
    assert detection.calls == {"DetectText": 1}


def test_a_failing_model_fails_the_image_after_text_recognition_finished() -> None:
    recorder = _Recorder(fail=True)
    detector = LocalDetector(_FakeModels(recorder, threads=2))

    with pytest.raises(RuntimeError, match="classifier failed"):
        detector.detect(BytesImage(sample("animals/cat.jpg"), "cat"), ALL_NEEDS)
    assert recorder.text_done.is_set()


@pytest.fixture(scope="module")
def concurrent() -> LocalDetector:
    """A detector with 2 threads per image: text recognition runs beside the other models."""
    return LocalDetector(threads=2)


@pytest.mark.slow
@pytest.mark.parametrize(
    "rel", ["animals/cat.jpg", "people/grace-hopper.jpg", "documents/printed-page.png"]
)
def test_the_concurrent_path_gives_the_sequential_responses(
    detector: LocalDetector, concurrent: LocalDetector, rel: str
) -> None:
    # GIVEN the session's sequential detector (1 thread) and one with 2 threads per image
    assert not detector.models.split and concurrent.models.split
    image = BytesImage(sample(rel), rel)

    # WHEN both analyse the same photo
    expected = detector.detect(image, ALL_NEEDS)
    got = concurrent.detect(image, ALL_NEEDS)

    # THEN the responses, calls and model versions are identical
    assert got.responses == expected.responses
    assert got.calls == expected.calls
    assert got.model_versions == expected.model_versions


@pytest.mark.slow
def test_text_recognition_with_several_threads_does_not_spin(concurrent: LocalDetector) -> None:
    engine = concurrent.models.ocr()._engine
    for part in (engine.text_det, engine.text_rec):
        options = part.session.session.get_session_options()
        assert options.intra_op_num_threads == 2
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


@pytest.mark.slow
def test_the_sessions_are_built_once_and_given_to_rapidocr(concurrent: LocalDetector) -> None:
    # the int8 detector and RapidOCR's recogniser, built by TextReader with spinning off
    reader = concurrent.models.ocr()
    engine = reader._engine
    assert engine.cfg.Det.session is engine.text_det.session.session
    assert engine.cfg.Rec.session is engine.text_rec.session.session
    assert engine.text_det.session.session._model_path == reader.det.path


@pytest.mark.slow
def test_other_model_files_fall_back_to_rebuilding_rapidocrs_sessions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a recogniser file that is not the one RapidOCR 3.9+ ships
    from imgpipe.local import ocr

    monkeypatch.setattr(ocr, "REC_MODEL", "PP-OCRv9_rec_tiny.onnx")

    # WHEN a reader with 2 threads is built
    reader = ocr.TextReader(threads=2)

    # THEN RapidOCR loaded its own models and they were rebuilt without spinning
    engine = reader._engine
    assert "session" not in engine.cfg.Det and "session" not in engine.cfg.Rec
    for part in (engine.text_det, engine.text_rec):
        options = part.session.session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert engine.text_det.session.session._model_path == reader.det.path
