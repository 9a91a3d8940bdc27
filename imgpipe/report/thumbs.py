"""Thumbnails as data URIs, so the report is one self-contained file."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from analyzer.precheck import MAX_PX, precheck, read_header

THUMB_SIDE = 480
THUMB_QUALITY = 80


def thumbnail_data_uri(path: Path, side: int = THUMB_SIDE) -> str | None:
    """A JPEG thumbnail (EXIF orientation applied, as the detectors see it), or None if the file
    is not a readable image or the pre-check rejects it (the report then shows a placeholder)."""
    try:
        from imgpipe.local.imageio import DecodeError, open_rgb
    except ImportError:  # numpy and Pillow come with the `local` extra; the report works without
        return None
    try:
        # the pipeline's pre-check first: never decode what it rejected (a pixel bomb, a 16 MB
        # file), so one hostile file cannot abort or bloat the report; an image in a format
        # Rekognition does not take (GIF, WEBP, ...) is shown when its header's size is in limits
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = read_header(lambda n: (fh.seek(0), fh.read(n))[1], size)
        reason = precheck(size, head)
        if reason is not None and not (reason.startswith("unsupported_format") and _small(path)):
            return None
        img = open_rgb(path, side)
        img.thumbnail((side, side))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=THUMB_QUALITY, optimize=True)
    except (OSError, DecodeError, MemoryError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _small(path: Path) -> bool:
    """Whether the image header (read lazily, no pixels) gives sides within Rekognition's limit."""
    from PIL import Image

    from imgpipe.local.imageio import decode_errors

    try:
        with Image.open(path) as img:
            return max(img.size) <= MAX_PX
    except decode_errors():
        return False
