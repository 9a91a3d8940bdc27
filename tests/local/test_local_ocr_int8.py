"""The int8 text detector shipped in ``imgpipe/local/data``: when it is used, and that it finds
what RapidOCR's float model finds on the sample photos (which were not part of its calibration)."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from imgpipe.local import quantize
from imgpipe.local.errors import LocalError
from imgpipe.local.ocr import TextReader
from imgpipe.local.quantize import DetModel, det_model
from tests.support.paths import PHOTOS, SAMPLES

pytestmark = pytest.mark.slow

FP32 = DetModel("fp32", None, "test baseline")


def _bgr(rel: str) -> np.ndarray:
    from PIL import Image

    return np.ascontiguousarray(np.asarray(Image.open(SAMPLES / rel).convert("RGB"))[:, :, ::-1])


def _boxes(reader: TextReader, bgr: np.ndarray) -> list[tuple[float, float, float, float]]:
    """The detector's text boxes (detection only, no recognition) as (x0, y0, x1, y1)."""
    found = reader._engine(bgr, use_det=True, use_cls=False, use_rec=False).boxes
    rects = [
        (*np.asarray(box).min(axis=0), *np.asarray(box).max(axis=0))
        for box in (() if found is None else found)
    ]
    return sorted((float(x0), float(y0), float(x1), float(y1)) for x0, y0, x1, y1 in rects)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area - inter) if inter else 0.0


def _same_boxes(want: list[tuple[float, ...]], got: list[tuple[float, ...]]) -> bool:
    return len(want) == len(got) and all(max(_iou(w, g) for g in got) >= 0.7 for w in want)


@pytest.fixture(scope="module")
def readers() -> dict[str, TextReader]:
    return {"int8": TextReader(threads=1), "fp32": TextReader(threads=1, det=FP32)}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv(quantize.ENV_DET, raising=False)
    yield monkeypatch


def test_int8_is_used_by_default_when_rapidocrs_model_is_the_one_it_was_built_from(
    clean_env: pytest.MonkeyPatch, readers: dict[str, TextReader]
) -> None:
    chosen = det_model()
    assert chosen == DetModel("int8", str(quantize.INT8_DET))
    meta = json.loads(quantize.INT8_DET_META.read_text())
    assert meta["sha256"] == quantize.sha256(quantize.INT8_DET)
    assert meta["source_sha256"] == quantize.sha256(quantize.bundled_models() / meta["source"])
    # RapidOCR really runs the int8 file (the session rebuilt without spinning keeps its path)
    assert readers["int8"].det.precision == "int8"
    session = readers["int8"]._engine._load_det_model().session.session
    assert Path(session._model_path) == quantize.INT8_DET


def test_environment_variable_selects_the_float_model(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(quantize.ENV_DET, "FP32")
    assert det_model().precision == "fp32"
    assert det_model().path is None
    assert det_model("int8").precision == "int8"  # an explicit choice wins


def test_a_misspelt_precision_is_a_clear_error(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(quantize.ENV_DET, "int4")
    with pytest.raises(LocalError, match=r"IMGPIPE_OCR_DET must be one of int8, fp32, not 'int4'"):
        det_model()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"source_sha256": "0" * 64}, "is not the one PP-OCRv6_det_small.int8.onnx was built from"),
        ({"source": "PP-OCRv9_det.onnx"}, "does not ship PP-OCRv9_det.onnx"),
    ],
)
def test_a_different_rapidocr_model_falls_back_to_float_with_a_warning(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    change: dict[str, str],
    reason: str,
) -> None:
    meta = json.loads(quantize.INT8_DET_META.read_text()) | change
    stale = tmp_path / "meta.json"
    stale.write_text(json.dumps(meta))
    clean_env.setattr(quantize, "INT8_DET_META", stale)
    with caplog.at_level(logging.WARNING, logger="imgpipe.local.quantize"):
        chosen = det_model()
    assert chosen.precision == "fp32" and chosen.path is None
    assert reason in chosen.reason
    assert reason in caplog.text


def test_calibration_images_are_reproducible_and_mixed() -> None:
    first, second = quantize.calibration_images(), quantize.calibration_images()
    assert len(first) == quantize.CALIBRATION_IMAGES
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert {img.shape[:2] for img in first} == {quantize.CALIBRATION_SHAPE}
    assert not any(np.array_equal(a, b) for a, b in itertools.pairwise(first))


@pytest.mark.parametrize("rel", PHOTOS)
def test_int8_finds_the_text_boxes_the_float_model_finds(
    readers: dict[str, TextReader], rel: str
) -> None:
    bgr = _bgr(rel)
    want = _boxes(readers["fp32"], bgr)
    assert _same_boxes(want, _boxes(readers["int8"], bgr)), rel
    if rel in ("documents/printed-page.png", "people/grace-hopper.jpg"):
        assert len(want) >= 4  # the comparison is not vacuous where there is text


#: the words printed on the page (its transcription beside it)
PAGE = (SAMPLES / "documents/printed-page.txt").read_text().split()


def _words(reader: TextReader, rel: str) -> list[str]:
    from PIL import Image

    rgb = np.asarray(Image.open(SAMPLES / rel).convert("RGB"))
    detections = reader.read(rgb)["TextDetections"]
    return [d["DetectedText"] for d in detections if d["Type"] == "WORD"]


def test_int8_reads_the_page_about_as_well_as_the_float_model(
    readers: dict[str, TextReader],
) -> None:
    """``bench/ocr_accuracy.py`` measures the same over a sweep of sizes: about 97 % of the
    words for both; which words are missed differs by a word or two."""
    read = {
        name: set(_words(reader, "documents/printed-page.png")) for name, reader in readers.items()
    }
    missed = {name: [w for w in PAGE if w not in words] for name, words in read.items()}
    assert len(missed["int8"]) <= len(missed["fp32"]) + 1, missed
    assert len(missed["int8"]) <= 2, missed


def test_int8_reads_the_name_tag(readers: dict[str, TextReader]) -> None:
    assert "HOPPER" in _words(readers["int8"], "people/grace-hopper.jpg")


def test_the_shipped_model_is_what_the_recipe_builds(
    tmp_path: Path, readers: dict[str, TextReader]
) -> None:
    """Byte for byte with the onnxruntime that built it; with another one, the same boxes."""
    import onnxruntime as ort

    fresh = tmp_path / "det.int8.onnx"
    meta = quantize.build(quantize.bundled_models() / quantize.SOURCE_NAME, fresh)
    shipped = json.loads(quantize.INT8_DET_META.read_text())
    assert meta["source_sha256"] == shipped["source_sha256"]
    assert json.loads(fresh.with_suffix(".json").read_text()) == meta
    if ort.__version__ == shipped["onnxruntime"]:
        assert meta["sha256"] == shipped["sha256"]
    else:
        rebuilt = TextReader(threads=1, det=DetModel("int8", str(fresh)))
        bgr = _bgr("documents/printed-page.png")
        assert _same_boxes(_boxes(readers["int8"], bgr), _boxes(rebuilt, bgr))
