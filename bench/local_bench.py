"""Benchmark of the offline models and of `imgpipe run` (figures for docs/performance.md).

Measures, on this machine:
- model load time of each local model (fresh process, so nothing is cached);
- per-image latency of each model and of all three analyses together (``LocalDetector.detect``
  with labels + moderation + text, decode included) on the sample photos scaled to 640 px, with
  the default thread budget a user gets (``LocalDetector()``: all CPUs for one image, so on 2+
  CPUs OCR runs beside the other models and each model has the threads ``LocalModels`` gives it);
- the same with RapidOCR's float32 text detector instead of the shipped int8 one
  (``imgpipe.local.quantize``), interleaved image by image with it, and the ratio;
- the same with the legacy label models (``IMGPIPE_LOCAL_MODELS=legacy``: Haar faces, no object
  detector) instead of YOLOX-Nano + CenterFace, interleaved image by image too;
- cold start to first result: a fresh Python process that imports, loads the models the rules
  need and analyses one photo;
- peak memory (max RSS) of a process that loads all models and analyses every photo;
- images/s of ``imgpipe run`` on a folder of 50 photos with 1 and 2 workers (model load excluded,
  taken from the run's own ``elapsed_s``; wall time of the whole command printed too).

Run: ``.venv/bin/python bench/local_bench.py`` (``--quick`` for fewer repetitions). Prints a table
and one JSON line. Targets (2 cores): all three analyses <= 250 ms/image, cold start <= 3 s,
peak memory <= 1 GB.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _docs  # bench/ is on sys.path when a script runs

BLOCK = _docs.Block("performance.md", "local")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "samples"
RULES = SAMPLES / "demo-rules.yaml"
PHOTOS = [
    "animals/cat.jpg",
    "animals/raccoon.jpg",
    "objects/coffee-cup.jpg",
    "objects/rocket.jpg",
    "people/astronaut.jpg",
    "people/grace-hopper.jpg",
    "documents/printed-page.png",
]
SIDE = 640


def photos_at(side: int) -> list[tuple[str, bytes]]:
    """The sample photos as JPEG/PNG bytes whose longest side is ``side`` px."""
    from PIL import Image

    out = []
    for rel in PHOTOS:
        img = Image.open(SAMPLES / rel).convert("RGB")
        scale = side / max(img.size)
        img = img.resize(
            (round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS
        )
        buf = io.BytesIO()
        fmt = "PNG" if rel.endswith(".png") else "JPEG"
        img.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        out.append((rel, buf.getvalue()))
    return out


def ms(values: list[float], cpu: list[float]) -> dict[str, float]:
    """Wall-clock median and p90 (nearest rank), and the median CPU time (all threads) per
    image, in ms."""
    return {
        "median": round(statistics.median(values) * 1000, 1),
        "p90": round(sorted(values)[math.ceil(len(values) * 0.9) - 1] * 1000, 1),
        "cpu_median": round(statistics.median(cpu) * 1000, 1),
    }


def models_threads() -> str:
    """The default thread budget of one image, as ``LocalModels`` splits it."""
    from imgpipe.local.detector import LocalModels

    m = LocalModels()
    if not m.split:
        return f"{m.threads} thread, models in sequence"
    return (
        f"{m.threads + 1} threads: OCR on {m.ocr_threads} (no spinning) beside "
        f"classifier/open_nsfw on {m.threads}"
    )


class _Timer:
    """Wall and CPU times of repeated calls, per label (so variants can be interleaved)."""

    def __init__(self) -> None:
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def time(self, label: str, call: Callable[[], Any]) -> None:
        started, cpu0 = time.perf_counter(), time.process_time()
        call()
        self.wall.setdefault(label, []).append(time.perf_counter() - started)
        self.cpu.setdefault(label, []).append(time.process_time() - cpu0)

    def figures(self) -> dict[str, dict[str, float]]:
        return {label: ms(self.wall[label], self.cpu[label]) for label in self.wall}


ALL_THREE = "all three analyses (detect, decode included)"
ALL_THREE_FP32 = "all three, float32 text detection"
ALL_THREE_LEGACY = "all three, legacy label models (Haar faces)"
TEXT = "text (RapidOCR, int8 detection)"
TEXT_FP32 = "text (RapidOCR, float32 detection)"


def latency(reps: int) -> dict[str, dict[str, float]]:
    """Per-model and whole-detect latencies; the float32 text detector (what RapidOCR ships)
    is timed in the same rounds as the int8 one, image by image, so their ratio is fair."""
    import numpy as np
    from PIL import Image

    from analyzer.ports import BytesImage
    from imgpipe.local.detector import LocalDetector, LocalModels
    from imgpipe.local.quantize import DetModel
    from rules import Needs

    detector = LocalDetector()
    fp32 = LocalDetector(LocalModels(text_det=DetModel("fp32", None, "bench baseline")))
    legacy = LocalDetector(LocalModels(label_models="legacy"))
    models = detector.models
    needs = Needs.of("labels", "moderation", "text")
    models.load(needs)
    fp32.models.load(Needs.of("text"))
    fp32.models._models.update(  # share every other model: only text detection differs
        {k: v for k, v in models._models.items() if k != "ocr"}
    )
    legacy.models.load(Needs.of("labels"))  # its own (Haar) faces; every other model shared
    legacy.models._models.update(
        {k: v for k, v in models._models.items() if k not in ("faces", "objects")}
    )
    images = photos_at(SIDE)
    rgbs = [np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) for _, data in images]
    steps: dict[str, Callable[[Any], Any]] = {
        "classifier (EfficientNet-Lite0)": lambda rgb: models.classifier().probabilities(rgb),
        "objects (YOLOX-Nano)": lambda rgb: models.objects().detect(rgb),
        "faces (CenterFace; run only with a person)": lambda rgb: models.faces().detect(rgb),
        "faces (Haar cascade, legacy)": lambda rgb: legacy.models.faces().detect(rgb),
        "moderation (open_nsfw)": lambda rgb: models.nsfw().classify(rgb),
        TEXT: lambda rgb: models.ocr().read(rgb),
        TEXT_FP32: lambda rgb: fp32.models.ocr().read(rgb),
    }
    timer = _Timer()
    for step in steps.values():
        step(rgbs[0])  # warm
    for _ in range(reps):
        for rgb in rgbs:
            for name, step in steps.items():
                timer.time(name, lambda step=step, rgb=rgb: step(rgb))  # type: ignore[misc]
    no_text = Needs.of("labels", "moderation")
    for _ in range(reps):
        for rel, data in images:
            image = BytesImage(data, rel)
            for label, run, want in (
                (f"  all three: {rel}", detector, needs),
                (f"  float32 text detection: {rel}", fp32, needs),
                (f"  legacy label models: {rel}", legacy, needs),
                ("labels + moderation, no text (detect)", detector, no_text),
            ):
                timer.time(label, lambda run=run, want=want, image=image: run.detect(image, want))
    out = {name: ms(timer.wall[name], timer.cpu[name]) for name in steps}
    for label, prefix in (
        (ALL_THREE, "  all three: "),
        (ALL_THREE_FP32, "  float32 text detection: "),
        (ALL_THREE_LEGACY, "  legacy label models: "),
    ):
        keys = [k for k in timer.wall if k.startswith(prefix)]
        out[label] = ms(
            [t for k in keys for t in timer.wall[k]], [t for k in keys for t in timer.cpu[k]]
        )
    rest = timer.figures()
    out["labels + moderation, no text (detect)"] = rest["labels + moderation, no text (detect)"]
    out.update({k: v for k, v in rest.items() if k.startswith("  all three: ")})
    return out


_COLD = textwrap.dedent(
    """
    import json, resource, sys, time
    spawned = float(sys.argv[1])
    sys.path.insert(0, {root!r})
    from imgpipe.local.detector import LocalDetector
    from analyzer.ports import BytesImage
    from rules import load_ruleset
    rules = load_ruleset({rules!r})
    detector = LocalDetector()
    detector.models.load(rules.needs)
    loads = dict(detector.models.load_ms)
    first = detector.detect(BytesImage(open({photo!r}, "rb").read(), "cat"), rules.needs)
    t_first = time.time() - spawned
    for path in {photos!r}:
        detector.detect(BytesImage(open(path, "rb").read(), path), rules.needs)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({{"cold_start_s": t_first, "load_ms": loads, "max_rss_mb": rss_kb / 1024}}))
    """
)


def cold_start(label_models: str = "detector") -> dict[str, object]:
    """One fresh process; ``label_models`` is passed as ``IMGPIPE_LOCAL_MODELS``."""
    script = _COLD.format(
        root=str(ROOT),
        rules=str(RULES),
        photo=str(SAMPLES / PHOTOS[0]),
        photos=[str(SAMPLES / p) for p in PHOTOS],
    )
    result = subprocess.run(
        [sys.executable, "-c", script, repr(time.time())],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "IMGPIPE_LOCAL_MODELS": label_models},
    )
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def run_throughput(n_images: int, workers: int) -> dict[str, float]:
    imgpipe = shutil.which("imgpipe", path=str(Path(sys.executable).parent))
    if imgpipe is None:
        raise SystemExit("imgpipe is not installed in this environment (make venv)")
    images = photos_at(SIDE)
    with tempfile.TemporaryDirectory(prefix="imgpipe-bench-") as tmp:
        folder = Path(tmp) / "photos"
        for i in range(n_images):
            rel, data = images[i % len(images)]
            path = folder / f"{i:03d}-{Path(rel).name}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        started = time.perf_counter()
        result = subprocess.run(
            [
                imgpipe,
                "run",
                str(folder),
                "--rules",
                str(RULES),
                "--out",
                str(Path(tmp) / "out"),
                "--workers",
                str(workers),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"imgpipe run failed ({result.returncode}): {result.stderr}")
        data = json.loads(result.stdout)
    return {
        "images": n_images,
        "workers": workers,
        "elapsed_s": data["elapsed_s"],
        "images_per_s": round(n_images / data["elapsed_s"], 2),
        "wall_s_incl_startup": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    reps = 2 if args.quick else 5

    print(
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; photos scaled to {SIDE} px; "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    cold = cold_start()
    cold_legacy = cold_start("legacy")
    lat = latency(reps)
    runs = [run_throughput(50, 1), run_throughput(50, 2)]

    print(
        f"\nper-image latency, one image at a time, default budget of {models_threads()} "
        "(ms: wall median, wall p90, CPU median)"
    )
    for name, values in lat.items():
        print(
            f"  {name:<52} {values['median']:>7.1f} {values['p90']:>7.1f} {values['cpu_median']:>7.1f}"
        )
    ratios = {
        "text": lat[TEXT_FP32]["cpu_median"] / lat[TEXT]["cpu_median"],
        "all three": lat[ALL_THREE_FP32]["median"] / lat[ALL_THREE]["median"],
        "legacy labels / new, all three": lat[ALL_THREE_LEGACY]["median"]
        / lat[ALL_THREE]["median"],
    }
    from imgpipe.local.quantize import det_model

    print(
        f"\nint8 vs float32 text detection, same rounds: text CPU {ratios['text']:.2f}x less, "
        f"all three wall {ratios['all three']:.2f}x faster (model in use: {det_model().precision})"
    )
    print(
        f"legacy label models vs YOLOX-Nano + CenterFace, same rounds: all three wall "
        f"{ratios['legacy labels / new, all three']:.2f}x the new models' median"
    )
    print("\nmodel load (ms, fresh process):")
    for name, value in dict(cold["load_ms"]).items():  # type: ignore[call-overload]
        print(f"  {name:<20} {value:>8.1f}")
    print(
        f"cold start to first result (fresh process: interpreter, imports, model loads, 1 photo): "
        f"{cold['cold_start_s']:.2f} s"
    )
    print(f"peak memory (max RSS, all models + every photo): {cold['max_rss_mb']:.0f} MB")
    print(
        f"legacy label models (IMGPIPE_LOCAL_MODELS=legacy), next fresh process: cold start "
        f"{cold_legacy['cold_start_s']:.2f} s, peak memory {cold_legacy['max_rss_mb']:.0f} MB, "
        f"loads {json.dumps({k: round(v) for k, v in dict(cold_legacy['load_ms']).items()})}"  # type: ignore[call-overload]
    )
    print("\nimgpipe run on 50 photos (demo rules: labels + moderation + text):")
    for run in runs:
        print(
            f"  {run['workers']} worker(s): {run['images_per_s']:.2f} images/s "
            f"({run['elapsed_s']:.1f} s; whole command {run['wall_s_incl_startup']:.1f} s)"
        )
    print(
        f"load average after: {os.getloadavg()[0]:.2f} (other processes on the machine skew wall times)"
    )
    print(
        json.dumps(
            {
                "latency_ms": lat,
                "ratios": ratios,
                "cold": cold,
                "cold_legacy": cold_legacy,
                "run": runs,
            }
        )
    )


if __name__ == "__main__":
    _docs.main(main, BLOCK)
