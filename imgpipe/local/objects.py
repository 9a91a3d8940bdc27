"""Objects with boxes (people, vehicles, animals, 80 COCO classes) with YOLOX-Nano.

The vendored ``data/yolox_nano.onnx`` is Megvii's stock YOLOX-Nano (Apache-2.0; provenance in
``data/NOTICE-yolox_nano.txt``). Its graph takes one 1x3x416x416 image, BGR, values 0..255
(no mean/std), resized keeping the aspect ratio into the top-left corner and padded with grey
114 ("letterbox"). It answers 3549 rows of 85 numbers, one per grid cell of the three strides
8, 16 and 32 (52x52 + 26x26 + 13x13 cells): ``dx, dy, log w, log h`` of a box relative to its
cell, the objectness (already passed through a sigmoid) and 80 class scores (sigmoid too). A
box's score is objectness x class score, as in YOLOX's own post-processing.

:func:`decode` turns the rows into boxes in the original image's pixels (undoing the letterbox),
keeps those scoring at least :data:`MIN_SCORE`, and removes duplicates with per-class
non-maximum suppression (:func:`nms`). Boxes are then reported as ratios of the image size.

Confidence: Rekognition reports a clear person at 95-99, YOLOX-Nano at 0.6-0.9. Scores are
mapped linearly from ``[MIN_SCORE, 1]`` onto ``[50, 100]`` (:func:`score_to_confidence`), so a
box just at the detector's floor is reported at Rekognition's default floor (50), and the order
of boxes is kept. The floor was chosen on ``bench/local_accuracy.py`` (see docs/local-models.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from imgpipe.local._deps import require
from imgpipe.local.errors import ModelLoadError
from imgpipe.local.labels import Box

MODEL_FILE = "yolox_nano.onnx"
#: SHA-256 of the vendored file (checked by the tests, recorded in the NOTICE)
MODEL_SHA256 = "615e266100c341c28d62abe255f7a6d9d7e2b91c1b0b87fc24c5d9e53141a57b"
INPUT_SIZE = 416
STRIDES = (8, 16, 32)
PAD_VALUE = 114
#: Boxes scoring (objectness x class) under this are dropped.
MIN_SCORE = 0.45
#: Two boxes of the same class overlapping more than this (IoU) are one object.
NMS_IOU = 0.45
#: Boxes smaller than this share of the image's area are dropped (too small to be useful labels).
MIN_AREA_RATIO = 0.0008
#: A person box covering at least this share of the image is a close-up: it is kept only if a
#: face was found inside it (animal faces in close-up, e.g. a mandrill, score as people).
CLOSE_UP_AREA = 0.4


@dataclass(frozen=True, slots=True)
class ObjectBox:
    """One detected object: its COCO class index, box (ratios) and confidence (0..100)."""

    class_id: int
    box: Box
    confidence: float


def model_path() -> Path:
    return Path(str(resources.files("imgpipe.local").joinpath("data").joinpath(MODEL_FILE)))


@cache
def coco_classes() -> tuple[str, ...]:
    """The 80 COCO class names, in the model's output order."""
    table = json.loads(
        resources.files("imgpipe.local").joinpath("data/coco_labels.json").read_text("utf-8")
    )
    return tuple(str(row[0]) for row in table["classes"])


def score_to_confidence(score: float) -> float:
    """The documented linear map of a detector score onto Rekognition's 0..100 scale."""
    return float(50.0 + 50.0 * (score - MIN_SCORE) / (1.0 - MIN_SCORE))


def letterbox(rgb: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, float]:
    """The model's input (1x3xSxS float32, BGR) and the scale applied to the image."""
    cv2 = require("cv2")
    h, w = rgb.shape[:2]
    ratio = min(size / h, size / w)
    nh, nw = max(1, round(h * ratio)), max(1, round(w * ratio))
    resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[:nh, :nw] = resized[:, :, ::-1]  # RGB -> BGR
    blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)
    return np.ascontiguousarray(blob), ratio


@cache
def _grids(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output row: its cell's (x, y) and its stride."""
    cells, strides = [], []
    for stride in STRIDES:
        n = size // stride
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full((n * n, 1), stride))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> list[int]:
    """Greedy non-maximum suppression: indices of the boxes (x1, y1, x2, y2) kept, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(
        boxes[:, 3] - boxes[:, 1], 0, None
    )
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        x1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        y1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        x2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        y2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        union = areas[i] + areas[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
        order = rest[overlap <= iou]
    return keep


def decode(
    output: np.ndarray,
    ratio: float,
    width: int,
    height: int,
    *,
    size: int = INPUT_SIZE,
    min_score: float = MIN_SCORE,
) -> list[ObjectBox]:
    """Rows of the raw output (N x 85) -> objects in the original ``width`` x ``height`` image."""
    rows = np.asarray(output, dtype=np.float32).reshape(-1, output.shape[-1])
    cells, strides = _grids(size)
    if rows.shape[0] != cells.shape[0]:
        raise ModelLoadError(f"unexpected detector output {output.shape} for input {size}")
    class_scores = rows[:, 5:] * rows[:, 4:5]
    cls = class_scores.argmax(axis=1)
    score = class_scores[np.arange(len(cls)), cls]
    mask = score >= min_score
    if not mask.any():
        return []
    rows, cls, score = rows[mask], cls[mask], score[mask]
    centre = (rows[:, 0:2] + cells[mask]) * strides[mask]
    half = np.exp(np.clip(rows[:, 2:4], -10, 10)) * strides[mask] / 2
    # letterbox undo: the image sits at the top-left, scaled by ratio
    xyxy = np.concatenate([centre - half, centre + half], axis=1) / ratio
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
    out: list[ObjectBox] = []
    for c in np.unique(cls):
        idx = np.flatnonzero(cls == c)
        for k in nms(xyxy[idx], score[idx]):
            i = idx[k]
            x1, y1, x2, y2 = (float(v) for v in xyxy[i])
            if (x2 - x1) * (y2 - y1) < MIN_AREA_RATIO * width * height:
                continue
            box = Box(
                left=x1 / width, top=y1 / height, width=(x2 - x1) / width, height=(y2 - y1) / height
            )
            out.append(ObjectBox(int(c), box, score_to_confidence(float(score[i]))))
    out.sort(key=lambda o: (-o.confidence, o.class_id))
    return out


def confirm_close_ups(
    objects: list[ObjectBox], faces: list[Any], person_class: int
) -> list[ObjectBox]:
    """Drop close-up person boxes (area >= :data:`CLOSE_UP_AREA`) that hold no face centre.

    ``faces`` are :class:`~imgpipe.local.labels.FaceBox` (anything with a ``box``). At that
    size a person's face is large and the face detector finds it when it faces the camera; the
    object detector's close-up "people" without a face were animal faces on the bench set.
    """
    centres = [(f.box.left + f.box.width / 2, f.box.top + f.box.height / 2) for f in faces]
    kept: list[ObjectBox] = []
    for obj in objects:
        b = obj.box
        if obj.class_id == person_class and b.width * b.height >= CLOSE_UP_AREA:
            inside = any(
                b.left <= x <= b.left + b.width and b.top <= y <= b.top + b.height
                for x, y in centres
            )
            if not inside:
                continue
        kept.append(obj)
    return kept


class ObjectDetector:
    """YOLOX-Nano on onnxruntime; ``detect`` is thread-safe (one session, many callers)."""

    def __init__(self, *, threads: int = 1) -> None:
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        path = model_path()
        try:
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"cannot load the object detector {path}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name

    def detect(self, rgb: np.ndarray, *, min_score: float = MIN_SCORE) -> list[ObjectBox]:
        blob, ratio = letterbox(rgb)
        (output,) = self._session.run(None, {self._input: blob})
        h, w = rgb.shape[:2]
        return decode(output[0], ratio, w, h, min_score=min_score)
