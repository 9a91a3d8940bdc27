"""``ImageProperties`` of DetectLabels (feature IMAGE_PROPERTIES), computed with numpy.

Rekognition does not document its formulas; these are simple, monotonic stand-ins on the same
0..100 scales, good enough for rules such as "reject blurry or dark product photos":

- ``Brightness``: mean luma (Rec. 601) / 255 * 100.
- ``Contrast``: standard deviation of luma / 128 * 100, capped at 100.
- ``Sharpness``: variance of a 4-neighbour Laplacian of luma, mapped with ``100 * (1 - exp(-v/400))``
  (a sharp photo scores 90+, a heavily blurred one under 30).
- ``DominantColors``: the 5 most common colours after quantising each channel to 8 levels, with
  their share of pixels in ``PixelPercent``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_SIDE = 320  # computed on a thumbnail: the figures barely move and it costs < 2 ms


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(
        rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114, dtype=np.float64
    )


def image_properties(rgb: np.ndarray) -> dict[str, Any]:
    """The ``ImageProperties`` object for an RGB uint8 image."""
    step = max(1, math.ceil(max(rgb.shape[:2]) / MAX_SIDE))
    small = rgb[::step, ::step].astype(np.float64)
    y = _luma(small)
    lap = -4 * y[1:-1, 1:-1] + y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:]
    sharp = 100.0 * (1.0 - math.exp(-float(lap.var()) / 400.0)) if lap.size else 0.0
    quality = {
        "Brightness": round(float(y.mean()) / 255.0 * 100.0, 4),
        "Sharpness": round(sharp, 4),
        "Contrast": round(min(100.0, float(y.std()) / 128.0 * 100.0), 4),
    }
    q = (small.astype(np.int64) // 32).reshape(-1, 3)
    codes = q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2]
    counts = np.bincount(codes, minlength=512)
    colors = []
    for code in np.argsort(counts)[::-1][:5]:
        if counts[code] == 0:
            break
        r, g, b = (
            (int(code) // 64) * 32 + 16,
            (int(code) // 8 % 8) * 32 + 16,
            (int(code) % 8) * 32 + 16,
        )
        colors.append(
            {
                "Red": r,
                "Green": g,
                "Blue": b,
                "HexCode": f"#{r:02X}{g:02X}{b:02X}",
                "PixelPercent": round(float(counts[code]) / len(codes) * 100.0, 4),
            }
        )
    return {"Quality": quality, "DominantColors": colors}
