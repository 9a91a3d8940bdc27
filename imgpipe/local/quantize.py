"""The int8 text-detection model shipped in ``imgpipe/local/data`` and how it is built.

RapidOCR's bundled PP-OCRv6 text detector (``PP-OCRv6_det_small.onnx``, Apache-2.0, PaddleOCR)
is the largest cost of a local analysis: about 180 ms of CPU per 480 px image in float32. Its
weights are quantized here to int8 per output channel, and its activations to uint8 with ranges
set by the 99.99th percentile of calibration values, in ONNX's QDQ form, which onnxruntime fuses
into integer convolutions. ``bench/local_bench.py`` times both in the same rounds: about 3x less
CPU for text detection on a CPU with AVX-512 VNNI. ``bench/ocr_accuracy.py`` reads the printed
page and a name tag at 16 sizes with both: about as many words (97.1 % against 96.7 % on the
page; the tag at 14 sizes against 13), and ``tests/local/test_local_ocr_int8.py`` holds its text
boxes to the float model's on every sample.

The calibration images are synthetic and made here from a fixed seed (printed words in OpenCV's
Hershey fonts over smooth colour fields with grain, some with no text), so the build needs no
data files, is reproducible byte for byte with the same onnxruntime, and the sample photos the
tests judge it by were never part of it.

The shipped model is tied to the exact float model it came from: the sidecar JSON records that
file's SHA-256, and :func:`det_model` uses the int8 model only when RapidOCR's bundled file
still matches (another RapidOCR release falls back to its own float model, with a warning).

Maintainers rebuild it with ``python -m imgpipe.local.quantize`` (``--check`` compares a fresh
build with the shipped file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imgpipe.local._deps import require
from imgpipe.local.errors import LocalError

logger = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"
SOURCE_NAME = "PP-OCRv6_det_small.onnx"
INT8_DET = DATA / "PP-OCRv6_det_small.int8.onnx"
INT8_DET_META = DATA / "PP-OCRv6_det_small.int8.json"
#: ``IMGPIPE_OCR_DET``: ``int8`` (default) or ``fp32`` (RapidOCR's own float model).
ENV_DET = "IMGPIPE_OCR_DET"
PRECISIONS = ("int8", "fp32")

OPSET = 17  # per-channel QDQ needs opset >= 13; the source model is opset 11
CALIBRATION_SEED = 20261129
CALIBRATION_IMAGES = 24
#: (height, width) of every calibration image: the histogram calibrators need one shape
CALIBRATION_SHAPE = (320, 480)
#: activation ranges cover this percentile of the calibration values; measured by
#: ``bench/ocr_accuracy.py`` against min/max (fewer words read on the page and the name tag),
#: entropy (the name tag) and 99.999 (the name tag)
PERCENTILE = 99.99
RECIPE = (
    f"opset {OPSET}; onnxruntime quant_pre_process; quantize_static QDQ, weights int8 per "
    f"channel, activations uint8, percentile {PERCENTILE} calibration on {CALIBRATION_IMAGES} "
    f"synthetic {CALIBRATION_SHAPE[1]}x{CALIBRATION_SHAPE[0]} images (seed {CALIBRATION_SEED})"
)
#: PP-OCR detection input normalisation (RapidOCR's ``Det.mean``/``Det.std``), on BGR pixels.
_MEAN = 0.5
_STD = 0.5
_WORDS = (
    *("the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "INVOICE", "Total"),
    *("2024", "No.", "12345", "HOPPER", "Name", "Date", "PAID", "receipt", "image"),
    *("pipeline", "analysis", "report"),
)


@dataclass(frozen=True)
class DetModel:
    """Which text-detection model RapidOCR is given."""

    #: ``int8`` or ``fp32``
    precision: str
    #: the ONNX file, or None for RapidOCR's own (float) model
    path: str | None
    #: why the float model is used, when it is
    reason: str = ""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundled_models() -> Path:
    """The folder of the models RapidOCR ships in its wheel."""
    return Path(require("rapidocr").__file__).resolve().parent / "models"


_hashes: dict[tuple[str, int, int], str] = {}


def _cached_sha256(source: Path) -> str:
    """SHA-256 of a file, computed once per process while its size and mtime stay the same."""
    stat = source.stat()
    key = (str(source), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        _hashes[key] = sha256(source)
    return _hashes[key]


def det_model(choice: str | None = None) -> DetModel:
    """The text-detection model to use: the shipped int8 one unless told otherwise or stale.

    ``choice`` defaults to the ``IMGPIPE_OCR_DET`` environment variable, then ``int8``.
    """
    wanted = (choice or os.environ.get(ENV_DET) or "int8").strip().lower()
    if wanted not in PRECISIONS:
        raise LocalError(f"{ENV_DET} must be one of {', '.join(PRECISIONS)}, not {wanted!r}")
    if wanted == "fp32":
        return DetModel("fp32", None, f"asked for ({ENV_DET}=fp32)")
    reason = _int8_unusable()
    if reason:
        logger.warning("text detection runs in float32: %s", reason)
        return DetModel("fp32", None, reason)
    return DetModel("int8", str(INT8_DET))


def _int8_unusable() -> str:
    if not INT8_DET.is_file() or not INT8_DET_META.is_file():
        return f"{INT8_DET.name} is not installed"
    meta = json.loads(INT8_DET_META.read_text(encoding="utf-8"))
    source = bundled_models() / meta["source"]
    if not source.is_file():
        return f"the installed RapidOCR does not ship {meta['source']}"
    if _cached_sha256(source) != meta["source_sha256"]:
        return (
            f"the installed RapidOCR's {meta['source']} is not the one {INT8_DET.name} was built "
            "from (rebuild it with python -m imgpipe.local.quantize)"
        )
    return ""


# --- building (maintainers) ------------------------------------------------------------------


def calibration_images(
    count: int = CALIBRATION_IMAGES, seed: int = CALIBRATION_SEED
) -> list[np.ndarray]:
    """Synthetic BGR images for the activation ranges: words over smooth colour fields.

    All are :data:`CALIBRATION_SHAPE` (a size the detector sees: longest side 480, both sides
    multiples of 32); every sixth image has no text, every fourth a plain light background like
    a page.
    """
    cv2 = require("cv2")
    rng = np.random.default_rng(seed)
    fonts = (
        cv2.FONT_HERSHEY_SIMPLEX,
        cv2.FONT_HERSHEY_DUPLEX,
        cv2.FONT_HERSHEY_COMPLEX,
        cv2.FONT_HERSHEY_TRIPLEX,
        cv2.FONT_HERSHEY_PLAIN,
    )
    images = []
    for i in range(count):
        h, w = CALIBRATION_SHAPE
        field = cv2.resize(
            (rng.random((4, 6, 3)) * 255).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
        )
        detail = cv2.resize(
            (rng.random((24, 32, 3)) * 80 - 40).astype(np.float32),
            (w, h),
            interpolation=cv2.INTER_LINEAR,
        )
        img = np.clip(field + detail + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)
        if i % 4 == 3:
            img[:] = rng.integers(200, 256, 3).astype(np.uint8)
        lines = 0 if i % 6 == 0 else int(rng.integers(1, 9))
        for _ in range(lines):
            text = " ".join(rng.choice(_WORDS, int(rng.integers(1, 6))))
            scale = float(rng.uniform(0.4, 1.6))
            font = fonts[int(rng.integers(len(fonts)))]
            thickness = int(rng.integers(1, 4))
            dark = rng.random() >= 0.4
            colour = tuple(int(c) for c in rng.integers(0, 60 if dark else 256, 3))
            origin = (int(rng.integers(0, w // 2)), int(rng.integers(20, h - 5)))
            cv2.putText(img, text, origin, font, scale, colour, thickness, cv2.LINE_AA)
        images.append(img)
    return images


def det_input(bgr: np.ndarray) -> np.ndarray:
    """One BGR image as the detector's NCHW float input (no resizing)."""
    x = (bgr.astype(np.float32) / 255.0 - _MEAN) / _STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def build(source: Path, dest: Path) -> dict[str, Any]:
    """Quantize ``source`` into ``dest`` and write the sidecar JSON next to it; returns it."""
    onnx = require("onnx")
    ort = require("onnxruntime")
    quantization = require("onnxruntime.quantization")
    shape_inference = require("onnxruntime.quantization.shape_inference")
    version_converter = require("onnx.version_converter")

    model = onnx.load(str(source))
    input_name = model.graph.input[0].name
    images = calibration_images()

    class Reader(quantization.CalibrationDataReader):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            self._feeds: Iterator[dict[str, np.ndarray]] = iter(
                {input_name: det_input(img)} for img in images
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    with tempfile.TemporaryDirectory(prefix="imgpipe-quant-") as tmp:
        upgraded = Path(tmp) / "opset.onnx"
        prepared = Path(tmp) / "prepared.onnx"
        onnx.save(version_converter.convert_version(model, OPSET), str(upgraded))
        shape_inference.quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        quantization.quantize_static(
            str(prepared),
            str(dest),
            Reader(),
            quant_format=quantization.QuantFormat.QDQ,
            per_channel=True,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
            calibrate_method=quantization.CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": PERCENTILE},
        )
    meta = {
        "source": source.name,
        "source_sha256": sha256(source),
        "sha256": sha256(dest),
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
        "recipe": RECIPE,
        "licence": "Apache-2.0 (PP-OCRv6 text detection by PaddlePaddle, via RapidOCR)",
    }
    dest.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m imgpipe.local.quantize",
        description="Build the int8 text-detection model from RapidOCR's bundled float model.",
    )
    parser.add_argument("--out", type=Path, default=INT8_DET, help="where to write the model")
    parser.add_argument(
        "--check",
        action="store_true",
        help="build into a temporary folder and compare with the shipped model",
    )
    args = parser.parse_args(argv)
    source = bundled_models() / SOURCE_NAME
    if not args.check:
        meta = build(source, args.out)
        print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, sha256 {meta['sha256']})")
        return 0
    with tempfile.TemporaryDirectory(prefix="imgpipe-quant-check-") as tmp:
        meta = build(source, Path(tmp) / INT8_DET.name)
    shipped = json.loads(INT8_DET_META.read_text(encoding="utf-8"))
    same = meta["sha256"] == shipped["sha256"] == sha256(INT8_DET)
    print(
        f"fresh build {meta['sha256']} (onnxruntime {meta['onnxruntime']}), shipped "
        f"{shipped['sha256']} (onnxruntime {shipped['onnxruntime']}): "
        + ("identical" if same else "DIFFERENT")
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
