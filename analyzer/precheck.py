"""Pre-checks that run before anyone pays for Rekognition.

Pure functions over ``(size, first bytes)``: the Lambda feeds them a HeadObject size and a ranged
GET, the local run a file's size and its first bytes, so a non-image is rejected with the same
machine-readable reason everywhere. Reasons:

``empty``, ``too_large``, ``not_an_image`` (or ``not_an_image:<kind>`` for a known non-image
such as ``pdf``), ``unsupported_format:<ext>`` (an image Rekognition does not take: gif, webp,
heic, ...), ``truncated`` (a JPEG/PNG whose header ends early), ``too_small`` and
``too_big_dimensions`` (a side outside the allowed pixel range).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

#: Rekognition's limit for images passed by S3 reference.
MAX_BYTES = 15 * 1024 * 1024
MIN_PX = 80
MAX_PX = 10_000
#: How many leading bytes to read: enough for the JPEG SOF marker behind typical EXIF blocks.
SNIFF_BYTES = 64 * 1024

SUPPORTED = frozenset({"jpeg", "png"})

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8\xff"
# SOF markers carrying the frame size (not DHT C4, JPG C8, DAC CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True, slots=True)
class Limits:
    """What Rekognition accepts (defaults are its documented limits)."""

    max_bytes: int = MAX_BYTES
    min_px: int = MIN_PX
    max_px: int = MAX_PX


@dataclass(frozen=True, slots=True)
class Sniffed:
    """What the first bytes say: format (``jpeg``, ``png``, other extension, or None)."""

    format: str | None
    mime: str | None
    width: int | None = None
    height: int | None = None
    truncated: bool = False


DEFAULT_LIMITS = Limits()


def check_size(size: int, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """Reject by size alone (before reading a byte)."""
    if size <= 0:
        return "empty"
    if size > limits.max_bytes:
        return "too_large"
    return None


def sniff(head: bytes, size: int | None = None) -> Sniffed:
    """Identify the real type of an object from its first bytes, and its dimensions if cheap.

    ``size`` is the object's full size; when ``head`` holds the whole object a header that ends
    early is reported as truncated.
    """
    whole = size is not None and len(head) >= size
    if head.startswith(_PNG_SIG):
        dims = _png_dimensions(head)
        if dims is None:
            return Sniffed("png", "image/png", truncated=True)
        return Sniffed("png", "image/png", width=dims[0], height=dims[1])
    if head.startswith(_JPEG_SOI):
        dims, complete = _jpeg_dimensions(head)
        if dims is None:
            return Sniffed("jpeg", "image/jpeg", truncated=complete or whole)
        return Sniffed("jpeg", "image/jpeg", width=dims[0], height=dims[1])
    import filetype  # only for the rare non-JPEG/PNG object: keeps it off the cold path

    kind = filetype.guess(head) if head else None
    if kind is None:
        return Sniffed(None, None)
    return Sniffed(kind.extension, kind.mime)


def header_incomplete(head: bytes, size: int) -> bool:
    """True when ``head`` is a JPEG whose metadata (EXIF, ICC, XMP, thumbnails: each segment up
    to 64 KB, any number of them) runs past ``head`` before the frame header, and the object has
    more bytes: read a longer head (see :func:`read_header`), or the pixel-size check is skipped."""
    if len(head) >= size or not head.startswith(_JPEG_SOI):
        return False
    dims, complete = _jpeg_dimensions(head)
    return dims is None and not complete


def read_header(read: Callable[[int], bytes], size: int, first: int = SNIFF_BYTES) -> bytes:
    """The first bytes of an object, enough to find its dimensions: ``first`` bytes, then 4x
    longer reads while a JPEG's frame header is still ahead (at most the whole object, which the
    size check already bounded; about 4 reads for 15 MB)."""
    head = read(first)
    while header_incomplete(head, size):
        head = read(min(size, max(len(head), 1) * 4))
    return head


def precheck(size: int, head: bytes, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """The rejection reason for an object of ``size`` bytes starting with ``head``, or None."""
    reason = check_size(size, limits)
    if reason:
        return reason
    found = sniff(head, size)
    if found.format is None:
        return "not_an_image"
    if found.format not in SUPPORTED:
        if found.mime and found.mime.startswith("image/"):
            return f"unsupported_format:{found.format}"
        return f"not_an_image:{found.format}"
    if found.truncated:
        return "truncated"
    if found.width is not None and found.height is not None:
        if min(found.width, found.height) < limits.min_px:
            return "too_small"
        if max(found.width, found.height) > limits.max_px:
            return "too_big_dimensions"
    return None


def describe(reason: str) -> str:
    """A human sentence for a rejection reason (for logs and notification subjects)."""
    base, _, detail = reason.partition(":")
    texts = {
        "empty": "the object is empty",
        "too_large": "the object is larger than Rekognition accepts",
        "not_an_image": "the object is not an image",
        "unsupported_format": "the image format is not JPEG or PNG",
        "truncated": "the image header is incomplete",
        "too_small": "the image is smaller than the minimum side length",
        "too_big_dimensions": "the image is larger than the maximum side length",
    }
    text = texts.get(base, base.replace("_", " "))
    return f"{text} ({detail})" if detail else text


def _png_dimensions(head: bytes) -> tuple[int, int] | None:
    # Signature (8) + IHDR length (4) + b"IHDR" (4) + width (4) + height (4).
    if len(head) < 24 or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _jpeg_dimensions(head: bytes) -> tuple[tuple[int, int] | None, bool]:
    """Walk JPEG markers to the SOF frame header.

    Returns ``(dims, complete)``: ``complete`` is True when the marker walk hit the start of scan
    or end of image without a frame header (a broken file), False when ``head`` simply ran out.
    """
    pos = 2
    n = len(head)
    while pos + 2 <= n:
        if head[pos] != 0xFF:
            return None, True
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # standalone markers
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI / SOS before any frame header
            return None, True
        if pos + 4 > n:
            return None, False
        (length,) = struct.unpack(">H", head[pos + 2 : pos + 4])
        if length < 2:
            return None, True
        if marker in _JPEG_SOF:
            if pos + 9 > n:
                return None, False
            height, width = struct.unpack(">HH", head[pos + 5 : pos + 9])
            return (width, height), True
        pos += 2 + length
    return None, False
