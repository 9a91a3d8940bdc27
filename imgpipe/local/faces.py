"""Faces: CenterFace (a small neural detector, the default) and OpenCV's Haar cascade (legacy).

:class:`FaceDetector` runs the vendored ``data/centerface.onnx`` (MIT; provenance in
``data/NOTICE-centerface.txt``) with onnxruntime. The file's graph is fully convolutional but
was exported with a fixed 10x3x32x32 input; :func:`centerface_graph` rewrites the input and
output shapes to ``1 x 3 x H x W`` (H and W multiples of 32) when it is loaded, without touching
the weights. Input: RGB, 0..255, no mean/std. Outputs, at 1/4 of the input size: a face-centre
heatmap (sigmoid), the box's log height and width (x4 px), the centre's sub-cell offset (y, x)
and 5 landmarks (unused). :func:`decode_centerface` keeps heatmap peaks >= :data:`MIN_SCORE`,
builds boxes from scale and offset, and removes duplicates with non-maximum suppression. The
image is searched at :data:`CENTERFACE_SIDE` px on its longest side. Confidence maps the peak
score linearly from ``[MIN_SCORE, 1]`` onto ``[50, 100]``.

:class:`HaarFaceDetector` is the previous detector, kept for ``IMGPIPE_LOCAL_MODELS=legacy``
(:mod:`imgpipe.local.detector`) so ``bench/local_accuracy.py`` can compare both. It fires on
flower centres and coin portraits; the neural detector, which runs only where the object
detector saw a person, does not (docs/local-models.md).

Haar details:

``detectMultiScale2`` reports, per face, how many overlapping candidate windows agreed
(``n``). Their number depends on how finely the image is rescanned, so it is first normalised to
a scan step of 1.1 (``d = n * ln SCALE_FACTOR / ln 1.1``) and then mapped to a confidence with
``100 * (1 - 0.85 ** d)``: d = 5 gives 56, 10 gives 80, 18 gives 95, 30 gives 99. Faces under
:data:`MIN_CONFIDENCE` are dropped. The search runs on the image scaled to at most
:data:`MAX_SIDE` px with a scan step of 1.2 (about 3x cheaper than 640 px and 1.1, same faces on
the samples). Measured on the samples: Grace Hopper 8 windows (92), the astronaut 21 (99.8), no
face on the cat, the raccoon, the cup, the rocket or the page.

``cv2.CascadeClassifier`` is not safe to share between threads, so each thread gets its own.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from imgpipe.local._deps import require
from imgpipe.local.errors import ModelLoadError
from imgpipe.local.labels import Box, FaceBox
from imgpipe.local.objects import nms

CASCADE = "haarcascade_frontalface_default.xml"
MIN_CONFIDENCE = 50.0

CENTERFACE_FILE = "centerface.onnx"
#: SHA-256 of the vendored file (checked by the tests, recorded in the NOTICE)
CENTERFACE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
#: CenterFace heatmap peaks under this are not faces.
MIN_SCORE = 0.5
#: Longest side (px) the image is searched at by CenterFace.
CENTERFACE_SIDE = 416
#: Overlapping face boxes (IoU above this) are one face.
FACE_NMS_IOU = 0.3
MIN_NEIGHBORS = 3
SCALE_FACTOR = 1.2
#: Faces smaller than this share of the image's shorter side are ignored.
MIN_FACE_RATIO = 0.06
#: Images are searched at most this large (longest side), for speed.
MAX_SIDE = 480


def neighbors_to_confidence(n: int, scale_factor: float = SCALE_FACTOR) -> float:
    """The documented mapping from agreeing windows to a 0..100 confidence."""
    density = max(int(n), 0) * math.log(scale_factor) / math.log(1.1)
    return float(100.0 * (1.0 - 0.85**density))


def centerface_graph(path: str) -> bytes:
    """The vendored CenterFace graph with a ``1 x 3 x H x W`` input (serialised ONNX)."""
    onnx = require("onnx")
    try:
        model = onnx.load(path)
    except Exception as exc:  # onnx raises DecodeError and OSError
        raise ModelLoadError(f"cannot read the face detector {path}: {exc}") from exc
    graph = model.graph
    used = {name for node in graph.node for name in node.input}
    # unused tensors (BatchNorm's num_batches_tracked) would make onnxruntime warn at each load
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    initialisers = {t.name for t in kept}
    # old exporters list every weight as a graph input too; onnxruntime wants only real inputs
    inputs = [i for i in graph.input if i.name not in initialisers and i.name in used]
    del graph.input[:]
    graph.input.extend(inputs)
    for value, dims in [(graph.input[0], (1, 3, "H", "W"))] + [
        (out, (1, out.type.tensor_type.shape.dim[1].dim_value, "h", "w")) for out in graph.output
    ]:
        shape = value.type.tensor_type.shape
        for dim, new in zip(shape.dim, dims, strict=True):
            if isinstance(new, str):
                dim.dim_param = new
            else:
                dim.dim_value = new
    del graph.value_info[:]
    return bytes(model.SerializeToString())


def score_to_confidence(score: float) -> float:
    """The documented linear map of a heatmap peak onto Rekognition's 0..100 scale."""
    return float(50.0 + 50.0 * (score - MIN_SCORE) / (1.0 - MIN_SCORE))


def decode_centerface(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    width: int,
    height: int,
    *,
    min_score: float = MIN_SCORE,
) -> list[FaceBox]:
    """CenterFace outputs (each C x h x w, at 1/4 of an input of ``4w x 4h`` px) -> face boxes
    relative to the image (the input may have been stretched to multiples of 32: boxes are
    ratios of the input, which are the image's ratios)."""
    heat = heatmap[0]
    in_h, in_w = heat.shape[0] * 4, heat.shape[1] * 4
    ys, xs = np.nonzero(heat >= min_score)
    if ys.size == 0:
        return []
    bh = np.exp(np.clip(scale[0, ys, xs], -10, 10)) * 4
    bw = np.exp(np.clip(scale[1, ys, xs], -10, 10)) * 4
    cy = (ys + offset[0, ys, xs] + 0.5) * 4
    cx = (xs + offset[1, ys, xs] + 0.5) * 4
    x1 = np.clip(cx - bw / 2, 0, in_w)
    y1 = np.clip(cy - bh / 2, 0, in_h)
    x2 = np.clip(cx + bw / 2, 0, in_w)
    y2 = np.clip(cy + bh / 2, 0, in_h)
    boxes = np.stack([x1, y1, x2, y2], axis=1)
    scores = heat[ys, xs]
    faces: list[FaceBox] = []
    for i in nms(boxes, scores, FACE_NMS_IOU):
        bx1, by1, bx2, by2 = (float(v) for v in boxes[i])
        if bx2 <= bx1 or by2 <= by1:
            continue
        box = Box(
            left=bx1 / in_w, top=by1 / in_h, width=(bx2 - bx1) / in_w, height=(by2 - by1) / in_h
        )
        faces.append(FaceBox(box, score_to_confidence(float(scores[i]))))
    del width, height  # boxes are ratios; kept in the signature for symmetry with the objects
    return faces


class FaceDetector:
    """Faces in an RGB image with CenterFace (onnxruntime); thread-safe."""

    def __init__(self, *, threads: int = 1) -> None:
        ort = require("onnxruntime")
        from importlib import resources

        path = str(resources.files("imgpipe.local").joinpath("data").joinpath(CENTERFACE_FILE))
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                centerface_graph(path), options, providers=["CPUExecutionProvider"]
            )
        except ModelLoadError:
            raise
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"cannot load the face detector {path}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name
        self._cv2 = require("cv2")

    def detect(self, rgb: np.ndarray, *, min_score: float = MIN_SCORE) -> list[FaceBox]:
        h, w = rgb.shape[:2]
        scale = CENTERFACE_SIDE / max(h, w)
        in_w = max(32, math.ceil(w * scale / 32) * 32)
        in_h = max(32, math.ceil(h * scale / 32) * 32)
        resized = self._cv2.resize(rgb, (in_w, in_h), interpolation=self._cv2.INTER_AREA)
        blob = np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)
        heatmap, scales, offsets, _ = self._session.run(None, {self._input: blob})
        faces = decode_centerface(heatmap[0], scales[0], offsets[0], w, h, min_score=min_score)
        faces.sort(key=lambda f: -f.confidence)
        return faces


class HaarFaceDetector:
    """Frontal faces in an RGB image with OpenCV's Haar cascade (the legacy detector)."""

    def __init__(self) -> None:
        self._cv2 = require("cv2")
        self._path = str(self._cv2.data.haarcascades) + CASCADE
        self._local = threading.local()
        self._cascade()  # fail early if the file is missing

    def _cascade(self) -> Any:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = self._cv2.CascadeClassifier(self._path)
            if cascade.empty():
                raise ModelLoadError(f"cannot load the Haar cascade {self._path}")
            self._local.cascade = cascade
        return cascade

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        cv2 = self._cv2
        h, w = rgb.shape[:2]
        scale = min(1.0, MAX_SIDE / max(h, w))
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            gray = cv2.resize(
                gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
            )
        gray = cv2.equalizeHist(gray)
        side = max(24, int(min(gray.shape[:2]) * MIN_FACE_RATIO))
        rects, counts = self._cascade().detectMultiScale2(
            gray, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS, minSize=(side, side)
        )
        gh, gw = gray.shape[:2]
        faces: list[FaceBox] = []
        for (x, y, fw, fh), n in zip(
            np.asarray(rects).reshape(-1, 4), np.asarray(counts).reshape(-1), strict=True
        ):
            conf = neighbors_to_confidence(int(n))
            if conf >= MIN_CONFIDENCE:
                box = Box(left=x / gw, top=y / gh, width=fw / gw, height=fh / gh)
                faces.append(FaceBox(box, conf))
        faces.sort(key=lambda f: -f.confidence)
        return faces
