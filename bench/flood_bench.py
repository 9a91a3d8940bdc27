"""Flood benchmark: N uploads through moto S3 -> SQS -> the handler with W workers.

    .venv/bin/python bench/flood_bench.py [IMAGES] [WORKERS] [WAVE]     # default 1000 4 500

The harness is the tests' (:mod:`tests.support`: the moto stack, the event-source emulator, the
invariant), imported as a package from the project root; the checks are those of
``tests/reliability/test_flood.py`` (every image analysed once, queue and DLQ empty, one
notification each), at sizes that do not fit in ``make test``: ``make bench`` runs the default
1,000 (about a minute); 5,000 is ``flood_bench.py 5000 4 500`` (about 7 minutes). Prints the
figures (``--write-docs``: also into docs/reliability.md); the throughput is bounded by
in-process moto, not by the analyzer (see docs/reliability.md).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import _docs  # bench/ is on sys.path when a script runs

BLOCK = _docs.Block("reliability.md", "flood")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the project root, so that the package ``tests`` imports
    sys.path.insert(0, str(ROOT))

NAMES = ("cat.jpg", "weapon.jpg", "serial_label.jpg", "plain.jpg")


def flood(images: int, workers: int, wave: int) -> dict[str, float]:
    """Run one flood inside an active mock_aws; return its figures (asserts the invariant)."""
    from tests.support.fakes import FakeDetector
    from tests.support.faults import FaultPlan
    from tests.support.images import picture
    from tests.support.world import MotoStack

    stack = MotoStack(max_receive_count=5)
    plan = FaultPlan()
    detector = FakeDetector.by_name()
    analyzer = stack.analyzer(detector, plan=plan)
    data = picture()
    keys: list[str] = []
    upload_s = drain_s = 0.0
    invocations = 0
    for start in range(0, images, wave):
        t0 = time.perf_counter()
        for i in range(start, min(images, start + wave)):
            keys.append(stack.upload(f"flood/{i // 100:03d}/{i:05d} {NAMES[i % 4]}", data))
        upload_s += time.perf_counter() - t0
        stats = stack.drain(analyzer.handle, workers=workers)
        drain_s += stats.seconds
        invocations += stats.invocations
        assert (stats.crashes, stats.function_errors, stats.item_failures) == (0, 0, 0), stats

    tally = stack.check(plan, keys=keys)
    assert tally.problems == [], tally.problems[:5]
    assert tally.analysed == images and tally.in_dlq == 0 and tally.lost == 0
    assert tally.notifications == images and tally.duplicate_notifications == 0
    assert stack.queue_messages(stack.dlq_url) == []
    assert detector.calls["DetectLabels"] == images  # one call per API per image
    return {
        "images": images,
        "workers": workers,
        "invocations": invocations,
        "upload_s": round(upload_s, 2),
        "drain_s": round(drain_s, 2),
        "images_per_s": round(images / drain_s, 1),
    }


def main() -> None:
    images = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    wave = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from moto import mock_aws

    with mock_aws():
        figures = flood(images, workers, wave)
    print(
        f"flood: {figures['images']} images, {figures['workers']} workers, "
        f"{figures['invocations']} invocations; uploads {figures['upload_s']} s; "
        f"drain {figures['drain_s']} s = {figures['images_per_s']} images/s; "
        "every image analysed once, queue and DLQ empty, one notification each"
    )


if __name__ == "__main__":
    _docs.main(main, BLOCK)
