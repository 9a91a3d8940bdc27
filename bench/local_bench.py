"""Benchmark of the offline models and of `imgpipe run` (figures for the README's perf section).

Measures, on this machine:
- model load time of each local model (fresh process, so nothing is cached);
- per-image latency of each model and of all three analyses together (``LocalDetector.detect``
  with labels + moderation + text, decode included) on the sample photos scaled to 640 px, with
  the default thread budget a user gets (``LocalDetector()``: all CPUs for one image, so on 2+
  CPUs OCR runs beside the other models and each model has the threads ``LocalModels`` gives it);
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
    """Wall-clock median and p90, and the median CPU time (all threads) per image, in ms."""
    return {
        "median": round(statistics.median(values) * 1000, 1),
        "p90": round(sorted(values)[max(0, int(len(values) * 0.9) - 1)] * 1000, 1),
        "cpu_median": round(statistics.median(cpu) * 1000, 1),
    }


def models_threads() -> str:
    """The default thread budget of one image, as ``LocalModels`` splits it."""
    from analyzer.local.detector import LocalModels

    m = LocalModels()
    if not m.split:
        return f"{m.threads} thread, models in sequence"
    return (
        f"{m.threads + 1} threads: OCR on {m.ocr_threads} (no spinning) beside "
        f"classifier/open_nsfw on {m.threads}"
    )


def latency(reps: int) -> dict[str, dict[str, float]]:
    import numpy as np
    from PIL import Image

    from analyzer.local.detector import LocalDetector
    from analyzer.ports import BytesImage
    from rules import Needs

    detector = LocalDetector()
    models = detector.models
    needs = Needs.of("labels", "moderation", "text")
    models.load(needs)
    images = photos_at(SIDE)
    rgbs = [np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) for _, data in images]
    steps: dict[str, Callable[[Any], Any]] = {
        "classifier (EfficientNet-Lite0)": lambda rgb: models.classifier().probabilities(rgb),
        "faces (Haar cascade)": lambda rgb: models.faces().detect(rgb),
        "moderation (open_nsfw)": lambda rgb: models.nsfw().classify(rgb),
        "text (RapidOCR)": lambda rgb: models.ocr().read(rgb),
    }
    out: dict[str, dict[str, float]] = {}
    for name, step in steps.items():
        step(rgbs[0])  # warm
        times, cpus = [], []
        for _ in range(reps):
            for rgb in rgbs:
                started, cpu0 = time.perf_counter(), time.process_time()
                step(rgb)
                times.append(time.perf_counter() - started)
                cpus.append(time.process_time() - cpu0)
        out[name] = ms(times, cpus)
    times, cpus = [], []
    per_photo: dict[str, tuple[list[float], list[float]]] = {rel: ([], []) for rel, _ in images}
    for _ in range(reps):
        for rel, data in images:
            started, cpu0 = time.perf_counter(), time.process_time()
            detector.detect(BytesImage(data, rel), needs)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
            times.append(elapsed)
            cpus.append(cpu)
            per_photo[rel][0].append(elapsed)
            per_photo[rel][1].append(cpu)
    out["all three analyses (detect, decode included)"] = ms(times, cpus)
    no_text = Needs.of("labels", "moderation")
    times, cpus = [], []
    for _ in range(reps):
        for rel, data in images:
            started, cpu0 = time.perf_counter(), time.process_time()
            detector.detect(BytesImage(data, rel), no_text)
            times.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu0)
    out["labels + moderation, no text (detect)"] = ms(times, cpus)
    for rel, (wall, cpu_list) in per_photo.items():
        out[f"  all three: {rel}"] = ms(wall, cpu_list)
    return out


_COLD = textwrap.dedent(
    """
    import json, resource, sys, time
    spawned = float(sys.argv[1])
    sys.path.insert(0, {root!r})
    from analyzer.local.detector import LocalDetector
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


def cold_start() -> dict[str, object]:
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
    print("\nmodel load (ms, fresh process):")
    for name, value in dict(cold["load_ms"]).items():  # type: ignore[call-overload]
        print(f"  {name:<20} {value:>8.1f}")
    print(
        f"cold start to first result (fresh process: interpreter, imports, model loads, 1 photo): "
        f"{cold['cold_start_s']:.2f} s"
    )
    print(f"peak memory (max RSS, all models + every photo): {cold['max_rss_mb']:.0f} MB")
    print("\nimgpipe run on 50 photos (demo rules: labels + moderation + text):")
    for run in runs:
        print(
            f"  {run['workers']} worker(s): {run['images_per_s']:.2f} images/s "
            f"({run['elapsed_s']:.1f} s; whole command {run['wall_s_incl_startup']:.1f} s)"
        )
    print(
        f"load average after: {os.getloadavg()[0]:.2f} (other processes on the machine skew wall times)"
    )
    print(json.dumps({"latency_ms": lat, "cold": cold, "run": runs}))


if __name__ == "__main__":
    main()
