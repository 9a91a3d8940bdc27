"""What the int8 text detector costs in accuracy, next to RapidOCR's float32 one (same run).

The printed page and the Grace Hopper photo (``samples/``) are scaled to every size from 400 to
1000 px (longest side, step 40) and read by ``TextReader`` with each detector; reported per
photo: the share of the known words read (the words of the page's transcription ``printed-page.txt``; ``HOPPER`` on the name tag), the
sizes where a word was missed, and the CPU time per read. The two readers alternate image by
image, so machine load affects both alike.

Run: ``.venv/bin/python bench/ocr_accuracy.py``. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import _docs  # bench/ is on sys.path when a script runs

BLOCK = _docs.Block("performance.md", "ocr-accuracy")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = range(400, 1001, 40)
TRUTH = {
    # the page's transcription sits beside it (``imgpipe run`` skips .txt files)
    "documents/printed-page.png": (ROOT / "samples/documents/printed-page.txt").read_text().split(),
    "people/grace-hopper.jpg": ["HOPPER"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--int8",
        type=Path,
        default=None,
        help="another int8 model to judge (default: the shipped one)",
    )
    args = parser.parse_args()
    import numpy as np
    from PIL import Image

    from imgpipe.local.ocr import DET_MAX_SIDE, TextReader
    from imgpipe.local.quantize import DetModel, det_model

    int8 = DetModel("int8", str(args.int8)) if args.int8 else det_model("int8")
    readers = {  # 1 thread each: CPU time without thread-pool overhead
        "int8": TextReader(threads=1, det=int8),
        "fp32": TextReader(threads=1, det=DetModel("fp32", None)),
    }
    if readers["int8"].det.precision != "int8":
        raise SystemExit(f"the int8 model is not usable here: {readers['int8'].det.reason}")
    results: dict[str, dict[str, dict[str, object]]] = {}
    for rel, words in TRUTH.items():
        photo = Image.open(ROOT / "samples" / rel).convert("RGB")
        found = {name: 0 for name in readers}
        short = {name: [] for name in readers}  # sizes where a word was missed
        cpu = {name: 0.0 for name in readers}
        missed: dict[str, set[str]] = {name: set() for name in readers}
        for side in SIZES:
            scale = side / max(photo.size)
            size = (round(photo.width * scale), round(photo.height * scale))
            rgb = np.asarray(photo.resize(size, Image.Resampling.LANCZOS))
            for name, reader in readers.items():
                started = time.process_time()
                response = reader.read(rgb)
                cpu[name] += time.process_time() - started
                read = {
                    d["DetectedText"] for d in response["TextDetections"] if d["Type"] == "WORD"
                }
                hits = sum(1 for word in words if word in read)
                missed[name].update(word for word in words if word not in read)
                found[name] += hits
                if hits < len(words):
                    short[name].append(side)
        results[rel] = {
            name: {
                "word_recall": round(found[name] / (len(words) * len(SIZES)), 4),
                "sizes_with_a_miss": short[name],
                "words_missed": sorted(missed[name]),
                "cpu_ms_per_read": round(cpu[name] * 1000 / len(SIZES), 1),
            }
            for name in readers
        }

    print(
        f"text detection on images scaled to at most {DET_MAX_SIDE} px; sizes {SIZES.start}-{SIZES.stop - 1} px"
    )
    print(
        f"{'photo':<28} {'model':<5} {'word recall':>11} {'CPU ms/read':>12}  sizes with a missed word"
    )
    for rel, per_model in results.items():
        for name, row in per_model.items():
            print(
                f"{rel:<28} {name:<5} {row['word_recall']:>11.1%} {row['cpu_ms_per_read']:>12.1f}  "
                f"{row['sizes_with_a_miss']} {row['words_missed']}"
            )
    print(json.dumps(results))


if __name__ == "__main__":
    _docs.main(main, BLOCK)
