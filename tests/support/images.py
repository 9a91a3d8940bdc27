"""Small real pictures, encoded by Pillow, for tests that need image bytes but no content."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw


def picture(width: int = 96, height: int = 96, fmt: str = "JPEG", **save: Any) -> bytes:
    """A real drawn picture (gradient stripes and a disc) in ``fmt``."""
    img = Image.new("RGB", (width, height), (30, 90, 160))
    draw = ImageDraw.Draw(img)
    for x in range(0, width, max(1, width // 32)):
        draw.line([(x, 0), (x, height)], fill=(x * 255 // max(1, width), 90, 160))
    draw.ellipse([width // 4, height // 4, width * 3 // 4, height * 3 // 4], fill=(240, 200, 40))
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()
