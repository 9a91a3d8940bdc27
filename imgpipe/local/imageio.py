"""Decode an image for the local models and the report, with bounded memory and right colours.

- **Memory.** Only one full-size buffer ever exists: JPEGs are decoded at a reduced DCT scale
  (``draft``), other formats are decoded once and immediately shrunk by an integer factor
  (``reduce``) that keeps both sides >= ``max_side`` before any conversion copies them. A
  10,000 x 10,000 PNG (inside Rekognition's limits) peaked at about 1.8 GB per worker when it was
  transposed, converted and copied at full size; now its decoded pixels (100-400 MB) are the peak.
- **16-bit images.** Pillow opens 16-bit grayscale PNGs in mode ``I;16``/``I`` and its RGB
  conversion clips every value above 255 to white; they are scaled to 8 bits instead.
- **Decompression bombs.** Pillow's own pixel limit raises ``DecompressionBombError`` (not an
  ``OSError``); it is reported like any undecodable image.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from imgpipe.local._deps import require

#: Modes whose values go beyond 8 bits (Pillow's RGB conversion would clip them).
_WIDE_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
#: Modes ``Image.reduce`` cannot shrink directly.
_CONVERT_FIRST = {"P": "RGBA", "PA": "RGBA", "1": "L"}


class DecodeError(ValueError):
    """The bytes are not a decodable image (or exceed Pillow's decompression-bomb limit)."""


def decode_errors() -> tuple[type[BaseException], ...]:
    """What Pillow raises for undecodable input."""
    pil = require("PIL.Image")
    return (OSError, ValueError, SyntaxError, EOFError, pil.DecompressionBombError)


def open_rgb(source: bytes | Path, max_side: int) -> Any:
    """An RGB ``PIL.Image`` (EXIF orientation applied), shrunk while both sides stay >= max_side.

    Raises :class:`DecodeError` for anything Pillow cannot decode.
    """
    pil = require("PIL.Image")
    ops = require("PIL.ImageOps")
    try:
        img = pil.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        img.draft("RGB", (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
        img.load()
        if img.mode in _CONVERT_FIRST:
            img = img.convert(_CONVERT_FIRST[img.mode])
        if img.mode in _WIDE_MODES:
            img = _to_8bit(pil, img)
        factor = min(img.size) // max_side
        if factor > 1:
            img = img.reduce(factor)
        img = ops.exif_transpose(img)
        return img if img.mode == "RGB" else img.convert("RGB")
    except decode_errors() as exc:
        raise DecodeError(str(exc) or type(exc).__name__) from exc


def _to_8bit(pil: Any, img: Any) -> Any:
    """16-bit (or 32-bit) grayscale -> 8-bit ``L``, scaled by the format's range, not clipped."""
    values = np.asarray(img)
    if img.mode == "F":
        scaled = np.clip(np.nan_to_num(values), 0, 255)
    elif img.mode.startswith("I;16") or int(values.max(initial=0)) > 255:
        scaled = values.astype(np.uint32) >> 8  # 0..65535 -> 0..255
    else:
        scaled = values
    return pil.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L")
