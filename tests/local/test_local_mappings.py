"""Pure tests of the mappings from model outputs to Rekognition responses (no model is run)."""

from __future__ import annotations

import io
import pickle
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imgpipe.local import moderation, ocr
from imgpipe.local._deps import require
from imgpipe.local.errors import MissingExtraError, ModelLoadError
from imgpipe.local.faces import neighbors_to_confidence
from imgpipe.local.labels import Box, FaceBox, label_map
from imgpipe.local.torch_legacy import MAGIC_NUMBER, PROTOCOL_VERSION, load_state_dict
from rules import taxonomy


def one_hot(*weights: tuple[int, float]) -> np.ndarray:
    probs = np.zeros(1000)
    for index, p in weights:
        probs[index] = p
    return probs


# -- labels ---------------------------------------------------------------------------------


def test_label_table_is_consistent() -> None:
    table = label_map()
    # every parent is a known label, every class maps to known labels, and names are unique
    for name, info in table.info.items():
        assert name not in info.parents
        assert set(info.parents) <= set(table.info)
    assert len(table.general) == len(table.class_names) == 1000
    assert all(set(labels) <= set(table.info) for labels in table.general)
    assert table.class_names[134] != table.class_names[517]  # crane (bird) / crane (machine)
    # the moderation signals use real taxonomy names
    for _, top, second in moderation.CLASS_SIGNALS:
        assert taxonomy.ancestors(top) == [] or top in taxonomy.ancestors(second)


def test_class_mass_adds_up_into_general_labels_and_their_parents() -> None:
    # GIVEN three kinds of cat (tabby 40 %, tiger cat 30 %, Egyptian cat 20 %) and a dog (5 %)
    probs = one_hot((281, 0.4), (282, 0.3), (285, 0.2), (207, 0.05))

    # WHEN mapped
    labels = {lab["Name"]: lab for lab in label_map().labels(probs)}

    # THEN Cat holds 90, Animal 95 (cats + dog), the dog is below the floor and left out
    assert labels["Cat"]["Confidence"] == pytest.approx(90.0)
    assert labels["Animal"]["Confidence"] == pytest.approx(95.0)
    assert labels["Pet"]["Confidence"] == pytest.approx(95.0)
    assert "Dog" not in labels
    assert [p["Name"] for p in labels["Cat"]["Parents"]] == ["Pet", "Mammal", "Animal"]
    assert {"Name": "Kitten"} in labels["Cat"]["Aliases"]
    # AND no single cat class reaches 50, so no specific label is reported
    assert "Tabby" not in labels and "Egyptian Cat" not in labels


def test_a_confident_class_is_reported_by_its_own_name_too() -> None:
    labels = {lab["Name"]: lab for lab in label_map().labels(one_hot((967, 0.9)))}
    assert labels["Espresso"]["Confidence"] == pytest.approx(90.0)
    assert {p["Name"] for p in labels["Espresso"]["Parents"]} == {"Coffee", "Beverage", "Coffee Cup", "Cup"}
    assert labels["Cup"]["Confidence"] == pytest.approx(90.0)


def test_labels_are_sorted_and_floored() -> None:
    labels = label_map().labels(one_hot((817, 0.55), (281, 0.45)))
    names = [lab["Name"] for lab in labels]
    assert names[:4] == ["Car", "Sports Car", "Transportation", "Vehicle"]  # ties by name
    assert "Cat" not in names  # 45 < 50
    confidences = [lab["Confidence"] for lab in labels]
    assert confidences == sorted(confidences, reverse=True)


def test_faces_make_person_and_face_labels_with_instances() -> None:
    face = FaceBox(Box(left=0.25, top=0.1, width=0.2, height=0.25), 91.0)
    labels = {lab["Name"]: lab for lab in label_map().labels(np.zeros(1000), [face])}
    assert labels["Person"]["Confidence"] == 91.0
    assert labels["Person"]["Instances"] == [
        {"BoundingBox": {"Width": 0.2, "Height": 0.25, "Left": 0.25, "Top": 0.1}, "Confidence": 91.0}
    ]
    assert [p["Name"] for p in labels["Face"]["Parents"]] == ["Head", "Person"]


def test_face_confidence_mapping_is_monotonic_and_documented() -> None:
    # the documented points at a scan step of 1.1
    assert neighbors_to_confidence(0, 1.1) == 0
    assert neighbors_to_confidence(5, 1.1) == pytest.approx(55.6, abs=0.1)
    assert neighbors_to_confidence(18, 1.1) == pytest.approx(94.6, abs=0.1)
    # a coarser scan finds fewer windows per face: 8 windows at 1.2 count like ~15 at 1.1
    assert neighbors_to_confidence(8, 1.2) == pytest.approx(91.7, abs=0.1)
    values = [neighbors_to_confidence(n) for n in range(60)]
    assert values == sorted(values) and values[-1] <= 100


# -- moderation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.10, []),
        (0.4999, []),
        (0.50, [("Non-Explicit Nudity of Intimate parts and Kissing", 1, ""),
                ("Non-Explicit Nudity", 2, "Non-Explicit Nudity of Intimate parts and Kissing")]),
        (0.7999, [("Non-Explicit Nudity of Intimate parts and Kissing", 1, ""),
                  ("Non-Explicit Nudity", 2, "Non-Explicit Nudity of Intimate parts and Kissing")]),
        (0.80, [("Explicit", 1, ""), ("Explicit Nudity", 2, "Explicit")]),
        (0.99, [("Explicit", 1, ""), ("Explicit Nudity", 2, "Explicit")]),
    ],
)
def test_nsfw_score_thresholds(score: float, expected: list[tuple[str, int, str]]) -> None:
    labels = moderation.nsfw_labels(score)
    assert [(m["Name"], m["TaxonomyLevel"], m["ParentName"]) for m in labels] == expected
    assert all(m["Confidence"] == pytest.approx(score * 100) for m in labels)
    # every name and parent is in the model-7 taxonomy
    for m in labels:
        assert m["ParentName"] == (taxonomy.ancestors(m["Name"]) or [""])[0]


def test_classifier_signals_become_moderation_labels() -> None:
    # GIVEN the classifier sees a bikini (35 %) and a maillot (30 %), and a rifle at 20 %
    response = moderation.response(0.02, one_hot((445, 0.35), (639, 0.30), (764, 0.20)))

    # THEN swimwear (65) is reported at both levels; the rifle (20) is under the floor
    got = {(m["Name"], m["ParentName"], m["TaxonomyLevel"]): m["Confidence"] for m in response["ModerationLabels"]}
    assert got == {
        ("Swimwear or Underwear", "", 1): pytest.approx(65.0),
        ("Female Swimwear or Underwear", "Swimwear or Underwear", 2): pytest.approx(65.0),
    }
    assert response["ModerationModelVersion"] == "7.0"


# -- text -----------------------------------------------------------------------------------


def _box(x: float, y: float, w: float, h: float) -> list[list[float]]:
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]


def test_ocr_output_becomes_lines_then_words_with_parent_ids() -> None:
    # GIVEN two lines (one under the floor, one noise) with per-word boxes
    texts = ("INVOICE INV-2024-001", "blurry", "8", "Total 42")
    scores = (0.99, 0.60, 0.95, 0.93)
    boxes = np.array([_box(10, 10, 180, 20), _box(0, 50, 50, 10), _box(0, 0, 200, 100), _box(10, 60, 80, 20)])
    words = (
        (("INVOICE", 0.99, _box(10, 10, 80, 20)), ("INV-2024-001", 0.97, _box(95, 10, 95, 20))),
        (("blurry", 0.6, _box(0, 50, 50, 10)),),
        (("8", 0.95, _box(0, 0, 200, 100)),),
        (("Total", 0.95, _box(10, 60, 40, 20)), ("42", 0.70, _box(55, 60, 35, 20))),
    )

    # WHEN turned into a DetectText response for a 200x100 image
    response = ocr.to_response(texts, scores, boxes, words, 200, 100)
    found = response["TextDetections"]

    # THEN lines under 80 and single-character lines are dropped, and so are words under 80
    assert [(d["Type"], d["DetectedText"], d["Id"], d.get("ParentId")) for d in found] == [
        ("LINE", "INVOICE INV-2024-001", 0, None),
        ("LINE", "Total 42", 1, None),
        ("WORD", "INVOICE", 2, 0),
        ("WORD", "INV-2024-001", 3, 0),
        ("WORD", "Total", 4, 1),
    ]
    # AND geometry is relative to the image, with a 4-point polygon
    assert found[0]["Geometry"]["BoundingBox"] == {"Width": 0.9, "Height": 0.2, "Left": 0.05, "Top": 0.1}
    assert len(found[0]["Geometry"]["Polygon"]) == 4
    assert found[0]["Confidence"] == 99.0


def test_ocr_caps_words_at_100_like_rekognition() -> None:
    texts = tuple(" ".join(f"w{i}x{j}" for j in range(7)) for i in range(20))
    boxes = np.array([_box(0, i * 5, 100, 4) for i in range(20)])
    response = ocr.to_response(texts, (0.99,) * 20, boxes, None, 100, 100)
    words = [d for d in response["TextDetections"] if d["Type"] == "WORD"]
    lines = [d for d in response["TextDetections"] if d["Type"] == "LINE"]
    assert len(words) == 98 and len(lines) == 14  # 14 whole lines of 7 words; the 15th would pass 100


# -- weights file and optional packages -----------------------------------------------------


def _legacy_file(tmp_path: Path, payload: Any) -> Path:
    buf = io.BytesIO()
    for obj in (MAGIC_NUMBER, PROTOCOL_VERSION, {"little_endian": True}):
        pickle.dump(obj, buf, protocol=2)
    buf.write(payload)
    path = tmp_path / "model.pth"
    path.write_bytes(buf.getvalue())
    return path


def test_restricted_unpickler_refuses_code(tmp_path: Path) -> None:
    # GIVEN a "weights" file whose state dict would call os.system when unpickled
    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            import os

            return (os.system, ("echo pwned",))

    path = _legacy_file(tmp_path, pickle.dumps({"w": Evil()}, protocol=2))

    # WHEN loaded THEN it is refused before anything runs
    with pytest.raises(ModelLoadError, match="forbidden global"):
        load_state_dict(path)


def test_bundled_weights_load_without_torch() -> None:
    from imgpipe.local.efficientnet import weights_path

    state = load_state_dict(weights_path())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.weight"].dtype == np.float32
    assert np.isfinite(state["_fc.weight"]).all()


def test_truncated_weights_are_reported(tmp_path: Path) -> None:
    from imgpipe.local.efficientnet import weights_path

    data = Path(weights_path()).read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError):
        load_state_dict(path)
    assert struct.calcsize("<q") == 8


def test_missing_optional_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN rapidocr cannot be imported (None in sys.modules makes `import` fail)
    monkeypatch.setitem(sys.modules, "rapidocr", None)

    # WHEN the OCR model is needed THEN the error says which extra to install
    with pytest.raises(MissingExtraError) as info:
        require("rapidocr")
    assert "pip install 'image-pipeline[local]'" in str(info.value)
    assert info.value.package == "rapidocr"


def test_large_jpegs_are_decoded_at_a_reduced_scale() -> None:
    from PIL import Image

    from analyzer.ports import BytesImage
    from imgpipe.local.detector import decode

    # GIVEN a 12 MP JPEG
    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 120, 40)).save(buf, "JPEG")

    # WHEN decoded for the models THEN it is at 1/2 scale (both sides still >= 1024)
    rgb, _ = decode(BytesImage(buf.getvalue(), "big.jpg"))
    assert rgb.shape == (1500, 2000, 3)
