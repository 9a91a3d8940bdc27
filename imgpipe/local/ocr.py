"""Text with RapidOCR (Apache-2.0, bundled PP-OCR ONNX models) -> a DetectText-shaped response.

Settings, measured on the samples (see ``bench/local_bench.py``):

- text detection by the int8 model built from RapidOCR's PP-OCRv6 detector
  (:mod:`imgpipe.local.quantize`): about 3x less CPU than the float model, about as many words
  read (``bench/ocr_accuracy.py``);
- detection on the image scaled so its longest side is at most :data:`DET_MAX_SIDE` px
  (RapidOCR's default upscales the *shortest* side to 736, 3-4x slower; 416 px loses letters of
  the name tag on the Grace Hopper photo);
- no 180° line classifier (on the printed page it flipped good lines into garbage);
- lines recognised one at a time (:data:`REC_BATCH`).

Lines and words under :data:`MIN_CONFIDENCE`, and lines with fewer than :data:`MIN_ALNUM` letters
or digits, are dropped: on photos the recogniser produces such noise. As Rekognition does, at
most :data:`MAX_WORDS` words are returned, LINE detections first (Ids ``0..``), then WORD
detections whose ``ParentId`` is their line's Id.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imgpipe.local._deps import require
from imgpipe.local.quantize import SOURCE_NAME, DetModel, bundled_models, det_model

MIN_CONFIDENCE = 80.0
#: Lines with fewer letters/digits are dropped: on photos they are noise ("8" spanning a whole
#: coffee cup, "***" on a flag).
MIN_ALNUM = 2
_ALNUM = re.compile(r"[^\W_]", re.UNICODE)
MAX_WORDS = 100
DET_MAX_SIDE = 480
#: lines recognised per batch: 1 pads no line to a longer one's width (RapidOCR's 6 does);
#: ``bench/ocr_accuracy.py`` measured ~30 % less CPU on the printed page, as many words read
REC_BATCH = 1
#: RapidOCR 3.9+'s default text recogniser (the file in its wheel)
REC_MODEL = "PP-OCRv6_rec_small.onnx"
TEXT_MODEL_VERSION = "local:rapidocr"


class TextReader:
    """Reads LINE and WORD detections from an RGB image."""

    def __init__(self, *, threads: int | None = None, det: DetModel | None = None) -> None:
        rapidocr = require("rapidocr")
        #: the text-detection model in use (int8 unless ``IMGPIPE_OCR_DET=fp32`` or stale)
        self.det = det or det_model()
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.return_word_box": True,
            "Global.use_cls": False,
            "Det.limit_type": "max",
            "Det.limit_side_len": DET_MAX_SIDE,
            "Rec.rec_batch_num": REC_BATCH,
        }
        if self.det.path:
            params["Det.model_path"] = self.det.path
        if threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
            params["EngineConfig.onnxruntime.inter_op_num_threads"] = 1
        self._engine = rapidocr.RapidOCR(params=params)
        self._lock = threading.Lock()
        self._warm = False
        if threads and threads > 1 and not self._give_sessions(threads):
            self._stop_spinning(threads)

    @staticmethod
    def _options(threads: int) -> Any:
        """Session options as RapidOCR sets them, plus ``session.intra_op.allow_spinning=0``.

        RapidOCR's config has no key for session config entries. Without spinning, the intra-op
        threads sleep instead of busy-waiting between operators, so the CPU they would burn goes
        to the models running beside OCR (see :meth:`LocalDetector.detect`).
        """
        ort = require("onnxruntime")
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        opts.enable_cpu_mem_arena = False  # RapidOCR's default
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return opts

    def _give_sessions(self, threads: int) -> bool:
        """Build the detection and recognition sessions here and hand them to RapidOCR.

        RapidOCR takes a ready ``InferenceSession`` under ``Det.session`` / ``Rec.session`` in its
        config (its "custom session" support) and then builds none itself; its config accepts
        such objects only under OmegaConf's ``allow_objects`` flag, so the two models are built
        there and then. False (nothing changed) when the model files are not the ones RapidOCR
        3.9+ ships.
        """
        ort = require("onnxruntime")
        omegaconf = require("omegaconf")
        models = bundled_models()
        paths = {
            "Det": Path(self.det.path) if self.det.path else models / SOURCE_NAME,
            "Rec": models / REC_MODEL,
        }
        cfg = getattr(self._engine, "cfg", None)
        if cfg is None or not all(path.is_file() for path in paths.values()):
            return False
        with omegaconf.flag_override(cfg, "allow_objects", True):
            for section, path in paths.items():
                cfg[section]["session"] = ort.InferenceSession(
                    str(path),
                    sess_options=self._options(threads),
                    providers=["CPUExecutionProvider"],
                )
            self._engine._load_det_model()  # RapidOCR's detector and recogniser take them now
            self._engine._load_rec_model()
        return True

    def _stop_spinning(self, threads: int) -> None:
        """Rebuild RapidOCR's own two sessions without spinning (see :meth:`_options`).

        The fallback of :meth:`_give_sessions` for other model files: RapidOCR loads its
        models, then each session is built again from the same file. Skipped, keeping
        RapidOCR's sessions, if its internals are not the expected ones.
        """
        ort = require("onnxruntime")
        for load in ("_load_det_model", "_load_rec_model"):
            loader = getattr(self._engine, load, None)
            part = loader() if callable(loader) else None
            wrapper = getattr(part, "session", None)  # rapidocr's OrtInferSession
            session = getattr(wrapper, "session", None)
            path = getattr(session, "_model_path", None)
            if wrapper is None or not isinstance(session, ort.InferenceSession) or not path:
                continue
            wrapper.session = ort.InferenceSession(
                path, sess_options=self._options(threads), providers=session.get_providers()
            )

    def warm_up(self) -> None:
        """Load the lazily built ONNX sessions now (RapidOCR builds them on first use).

        The warm-up image carries printed text, so detection finds a line and the recogniser
        loads too.
        """
        with self._lock:
            if not self._warm:
                cv2 = require("cv2")
                img = np.full((64, 320, 3), 255, dtype=np.uint8)
                cv2.putText(
                    img, "imgpipe 2024", (10, 42), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (0, 0, 0), 2
                )
                self._engine(img)
                self._warm = True

    def read(self, rgb: np.ndarray) -> dict[str, Any]:
        """A DetectText response for one RGB image."""
        self.warm_up()
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        # explicit flags: RapidOCR keeps the ones of its previous call
        result = self._engine(bgr, use_det=True, use_cls=False, use_rec=True)
        h, w = rgb.shape[:2]
        return to_response(
            result.txts or (), result.scores or (), result.boxes, result.word_results, w, h
        )


def _geometry(points: Any, width: int, height: int) -> dict[str, Any]:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    xs = np.clip(pts[:, 0] / width, 0.0, 1.0)
    ys = np.clip(pts[:, 1] / height, 0.0, 1.0)
    return {
        "BoundingBox": {
            "Width": round(float(xs.max() - xs.min()), 6),
            "Height": round(float(ys.max() - ys.min()), 6),
            "Left": round(float(xs.min()), 6),
            "Top": round(float(ys.min()), 6),
        },
        "Polygon": [
            {"X": round(float(x), 6), "Y": round(float(y), 6)} for x, y in zip(xs, ys, strict=True)
        ],
    }


def to_response(
    texts: Sequence[str],
    scores: Sequence[float],
    boxes: Any,
    word_results: Sequence[Any] | None,
    width: int,
    height: int,
) -> dict[str, Any]:
    """Build the DetectText response from RapidOCR's per-line output."""
    lines: list[dict[str, Any]] = []
    words: list[dict[str, Any]] = []
    for i, (text, score) in enumerate(zip(texts, scores, strict=True)):
        conf = float(score) * 100.0
        if conf < MIN_CONFIDENCE or len(_ALNUM.findall(text)) < MIN_ALNUM:
            continue
        per_line = word_results[i] if word_results and i < len(word_results) else ()
        boxed = [item for item in per_line or () if item and item[2] is not None]
        line_words: list[tuple[str, float, Any]]
        if boxed:
            line_words = [
                (word, float(wscore) * 100.0, wbox)
                for word, wscore, wbox in boxed
                if word.strip() and float(wscore) * 100.0 >= MIN_CONFIDENCE
            ]
        else:  # no per-word output: the line's words share its box and confidence
            line_words = [(w, conf, None) for w in text.split()]
        if not line_words:
            continue
        if len(words) + len(line_words) > MAX_WORDS:
            break
        line_id = len(lines)
        line_geom = _geometry(boxes[i], width, height) if boxes is not None else None
        lines.append(_detection(" ".join(text.split()), "LINE", line_id, None, conf, line_geom))
        for word, wconf, wbox in line_words:
            geom = _geometry(wbox, width, height) if wbox is not None else line_geom
            words.append(_detection(word, "WORD", -1, line_id, wconf, geom))
    for offset, entry in enumerate(words):
        entry["Id"] = len(lines) + offset
    return {"TextDetections": lines + words, "TextModelVersion": TEXT_MODEL_VERSION}


def _detection(
    text: str,
    kind: str,
    ident: int,
    parent: int | None,
    conf: float,
    geometry: dict[str, Any] | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"DetectedText": text, "Type": kind, "Id": ident}
    if parent is not None:
        out["ParentId"] = parent
    out["Confidence"] = round(min(conf, 100.0), 4)
    if geometry is not None:
        out["Geometry"] = geometry
    return out
