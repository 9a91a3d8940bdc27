"""Issue 12, local decoding: right pixels for 16-bit images, bounded memory for big ones, and a
report that never decodes what the pre-check rejected."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analyzer.errors import PermanentImageError
from analyzer.ports import BytesImage
from analyzer.precheck import SNIFF_BYTES, header_incomplete, precheck, read_header
from imgpipe.local.detector import decode
from imgpipe.report.thumbs import thumbnail_data_uri

ROOT = Path(__file__).resolve().parents[2]


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_16_bit_grayscale_png_keeps_its_tones() -> None:
    # GIVEN a 16-bit grayscale gradient (black to white), as cameras and scanners write them
    ramp = np.linspace(0, 65535, 200 * 100).reshape(100, 200).astype(np.uint16)
    data = png(Image.fromarray(ramp))
    assert Image.open(io.BytesIO(data)).mode.startswith("I")

    # WHEN decoded for the models
    rgb, _ = decode(BytesImage(data, "g16.png"))

    # THEN it is still a gradient, not all white
    assert rgb.dtype == np.uint8 and rgb.shape == (100, 200, 3)
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[-1, -1].tolist() == [255, 255, 255]
    assert 120 < rgb.mean() < 135


@pytest.mark.parametrize("mode", ["P", "1", "LA", "RGBA", "CMYK", "I", "F"])
def test_every_mode_decodes_to_rgb(mode: str) -> None:
    img = Image.new("RGB", (120, 90), (200, 30, 30)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode in ("I", "F") else "PNG")
    buf = io.BytesIO()
    img.save(buf, fmt)
    rgb, _ = decode(BytesImage(buf.getvalue(), f"x.{fmt.lower()}"))
    assert rgb.shape == (90, 120, 3)


def test_undecodable_bytes_are_a_permanent_image_error() -> None:
    with pytest.raises(PermanentImageError):
        decode(BytesImage(b"\x89PNG\r\n\x1a\n" + bytes(100), "bad.png"))


DECODE_BIG = """
import resource, sys
from PIL import Image
Image.MAX_IMAGE_PIXELS = None
from analyzer.ports import BytesImage
from imgpipe.local.detector import decode
data = open(sys.argv[1], 'rb').read()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rgb, _ = decode(BytesImage(data, 'big.png'))
print(rgb.shape[0], rgb.shape[1], (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)
"""


def test_a_10000_px_png_decodes_with_one_full_size_buffer(tmp_path: Path) -> None:
    # GIVEN a PNG at Rekognition's side limit (10,000 x 10,000 RGB: 300 MB of pixels)
    side = 10_000
    row = (np.arange(side, dtype=np.uint32) % 256).astype(np.uint8)
    layer = Image.fromarray(np.broadcast_to(row, (side, side)).copy())
    path = tmp_path / "big.png"
    Image.merge("RGB", [layer, layer, layer]).save(path, compress_level=1)
    del layer
    assert precheck(path.stat().st_size, path.read_bytes()[:SNIFF_BYTES]) is None

    # WHEN decoded in a fresh process
    result = subprocess.run([sys.executable, "-c", DECODE_BIG, str(path)], capture_output=True, text=True,
                            cwd=ROOT, timeout=300, check=True)
    height, width, grown_mb = map(int, result.stdout.split())

    # THEN the models get a reduced image and the peak stays near the decoded pixels (it was
    # ~1.2 GB with the full-size conversion copies)
    assert min(height, width) >= 1024 and max(height, width) < 2048
    assert grown_mb < 600, f"decoding grew the process by {grown_mb} MB"


def test_thumbnails_skip_what_the_precheck_rejects(tmp_path: Path) -> None:
    # a 10,001 px wide PNG: rejected by the pre-check (too_big_dimensions), never decoded
    wide = tmp_path / "wide.png"
    Image.new("L", (10_001, 90)).save(wide)
    assert thumbnail_data_uri(wide) is None
    ok = tmp_path / "ok.png"
    Image.new("RGB", (300, 200), (10, 200, 10)).save(ok)
    uri = thumbnail_data_uri(ok)
    assert uri is not None and uri.startswith("data:image/jpeg;base64,")


def test_thumbnail_of_a_decompression_bomb_is_a_placeholder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.png"
    Image.new("RGB", (400, 400)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow raises DecompressionBombError
    assert thumbnail_data_uri(path) is None


def test_header_is_read_past_64_kb_of_jpeg_metadata() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (10_001, 90)).save(buf, "JPEG")
    data = buf.getvalue()
    comment = b"\xff\xfe" + (65535).to_bytes(2, "big") + bytes(65533)
    fat = data[:2] + comment * 3 + data[2:]
    assert header_incomplete(fat[:SNIFF_BYTES], len(fat))
    reads: list[int] = []

    def read(n: int) -> bytes:
        reads.append(n)
        return fat[:n]

    head = read_header(read, len(fat))
    assert precheck(len(fat), head) == "too_big_dimensions"
    assert reads == [SNIFF_BYTES, len(fat)]  # 4x longer, capped at the object


def test_gif_thumbnails_only_within_the_pixel_limit(tmp_path: Path) -> None:
    small = tmp_path / "small.gif"
    Image.new("P", (200, 100)).save(small)
    assert thumbnail_data_uri(small) is not None
    huge = tmp_path / "huge.gif"
    Image.new("P", (12_000, 10)).save(huge)
    assert thumbnail_data_uri(huge) is None
