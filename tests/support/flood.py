"""The flood harness: waves of uploads through moto S3 -> SQS -> the handler, several workers.

One harness for ``tests/reliability/test_flood.py`` (500 images in ``make test``) and
``bench/flood_bench.py`` (the big runs, figures printed). It asserts the invariant itself: every
image analysed once, announced once, the queue and the DLQ empty.
"""

from __future__ import annotations

import time

from tests.support.fakes import FakeDetector
from tests.support.faults import FaultPlan
from tests.support.images import picture
from tests.support.world import MotoStack

NAMES = ("cat.jpg", "weapon.jpg", "serial_label.jpg", "plain.jpg")


def flood(images: int, workers: int, wave: int) -> dict[str, float]:
    """Run one flood inside an active mock_aws; return its figures (asserts the invariant)."""
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
    assert invocations >= images / 10  # batches of at most 10

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
