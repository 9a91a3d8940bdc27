"""Pre-checks: the same reason for the same bytes, whatever the file is called."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from analyzer.precheck import (
    MAX_BYTES,
    SNIFF_BYTES,
    Limits,
    check_size,
    describe,
    precheck,
    sniff,
)
from tests.support.images import picture
from tests.support.paths import sample


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _head(data: bytes) -> bytes:
    return data[:SNIFF_BYTES]


@pytest.mark.parametrize("path", ["animals/cat.jpg", "people/grace-hopper.jpg", "documents/printed-page.png"])
def test_real_photos_pass(path: str) -> None:
    # GIVEN a real JPEG/PNG photo
    data = sample(path)
    # WHEN it is pre-checked from its first bytes
    # THEN it is accepted
    assert precheck(len(data), _head(data)) is None


def test_real_photo_dimensions_are_read() -> None:
    data = sample("animals/cat.jpg")
    with Image.open(io.BytesIO(data)) as img:
        expected = img.size
    found = sniff(_head(data), len(data))
    assert (found.format, (found.width, found.height)) == ("jpeg", expected)


@pytest.mark.parametrize(
    ("path", "reason"),
    [("invalid/cat.gif", "unsupported_format:gif"), ("invalid/not-an-image.jpg", "not_an_image")],
)
def test_sample_invalid_files(path: str, reason: str) -> None:
    data = sample(path)
    assert precheck(len(data), _head(data)) == reason


@pytest.mark.parametrize(
    ("fmt", "reason"),
    [("GIF", "unsupported_format:gif"), ("WEBP", "unsupported_format:webp"),
     ("BMP", "unsupported_format:bmp"), ("TIFF", "unsupported_format:tif")],
)
def test_other_image_formats_are_unsupported(fmt: str, reason: str) -> None:
    data = _encode(Image.new("RGB", (200, 200), (20, 120, 200)), fmt)
    assert precheck(len(data), _head(data)) == reason


def test_heic_named_jpg_is_unsupported() -> None:
    # GIVEN the ISO-BMFF header of an iPhone HEIC photo
    data = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 4000
    assert precheck(len(data), data) == "unsupported_format:heic"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "not_an_image:pdf"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 40, "not_an_image:zip"),
        (b"hello, this is a text file named photo.jpg\n", "not_an_image"),
        (b"<html><body>not a picture</body></html>", "not_an_image"),
    ],
)
def test_non_images(data: bytes, reason: str) -> None:
    assert precheck(len(data), data) == reason


def test_size_limits() -> None:
    assert check_size(0) == "empty"
    assert precheck(0, b"") == "empty"
    assert check_size(MAX_BYTES) is None
    assert check_size(MAX_BYTES + 1) == "too_large"
    assert check_size(1001, Limits(max_bytes=1000)) == "too_large"


@pytest.mark.parametrize(("width", "height"), [(79, 200), (200, 40), (10, 10)])
def test_too_small(width: int, height: int) -> None:
    data = picture(width, height)
    assert precheck(len(data), _head(data)) == "too_small"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_too_big_dimensions(fmt: str) -> None:
    data = picture(10_001, 90, fmt)
    assert precheck(len(data), _head(data)) == "too_big_dimensions"


def test_limits_are_configurable() -> None:
    data = picture(300, 200)
    assert precheck(len(data), data, Limits(min_px=250)) == "too_small"
    assert precheck(len(data), data, Limits(max_px=299)) == "too_big_dimensions"
    assert precheck(len(data), data, Limits(min_px=200, max_px=300)) is None


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_headers(fmt: str) -> None:
    # GIVEN a real image cut short inside its header (the whole object is these bytes)
    data = picture(200, 200, fmt)[:20]
    # THEN it is reported as truncated, not as "not an image"
    assert precheck(len(data), data) == "truncated"


def test_jpeg_without_frame_header_is_truncated() -> None:
    # SOI, a small APP0 segment, then end of image: no SOF at all.
    data = b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9 + b"\xff\xd9"
    assert precheck(len(data) + 500, data) == "truncated"


def test_frame_header_beyond_the_sniffed_bytes_is_accepted() -> None:
    # GIVEN a real JPEG whose SOF sits behind 120 KB of APP segments (big EXIF/XMP blocks)
    jpeg = picture(60, 60)  # too small, but the pre-check cannot see that cheaply
    app = b"\xff\xe1" + struct.pack(">H", 60_002) + b"\x00" * 60_000
    data = jpeg[:2] + app + app + jpeg[2:]
    # WHEN only the first 64 KiB are read, the dimensions are unknown: accepted
    assert sniff(data[:SNIFF_BYTES], len(data)).width is None
    assert precheck(len(data), data[:SNIFF_BYTES]) is None
    # AND with the whole file, the dimensions are found
    assert precheck(len(data), data) == "too_small"


def test_describe_is_human() -> None:
    assert describe("unsupported_format:gif") == "the image format is not JPEG or PNG (gif)"
    assert describe("rekognition:invalid_image_format").startswith("rekognition")
