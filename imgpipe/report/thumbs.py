"""Thumbnails as data URIs, so the report is one self-contained file."""

from __future__ import annotations

import base64
import io
from pathlib import Path

THUMB_SIDE = 480
THUMB_QUALITY = 80


def thumbnail_data_uri(path: Path, side: int = THUMB_SIDE) -> str | None:
    """A JPEG thumbnail (EXIF orientation applied, as the detectors see it), or None if the file
    is not a readable image (the report then shows a placeholder)."""
    try:
        from PIL import Image, ImageOps
    except ImportError:  # Pillow comes with the `local` extra; the report still works without
        return None
    try:
        with Image.open(path) as opened:
            opened.load()
            img = ImageOps.exif_transpose(opened).convert("RGB")
            img.thumbnail((side, side))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=THUMB_QUALITY, optimize=True)
    except (OSError, ValueError, SyntaxError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
