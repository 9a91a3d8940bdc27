"""Flood: thousands of uploads through moto S3 -> SQS -> the handler, several workers.

Uploads go into a moto bucket whose notifications fill the queue (in waves of ``WAVE`` uploads,
each wave fully queued before the workers start on it); ``WORKERS`` threads drain the queue like
Lambda's event source mapping (batches of 10) into one handler with a zero-latency fake detector
and idempotency on. Afterwards every image is analysed exactly once, the queue and the DLQ are
empty and every image was announced once. Throughput is printed (``-s``); it is a figure, not an
assertion.

``IMGPIPE_FLOOD_IMAGES`` sets the number of uploads (default 500: in-process moto costs about
60 ms of CPU per image — eight S3/SQS/SNS/DynamoDB calls — on a shared 2-core box, so 5,000
would take ~6 minutes, not the 60 s budget of ``make test``). The big flood is
``bench/flood_bench.py`` (same harness and checks, figures printed). Deselect with
``-m "not slow"``.
"""

from __future__ import annotations

import os

import pytest

from tests.support.fakes import FakeDetector
from tests.support.faults import FaultPlan
from tests.support.images import picture
from tests.support.world import MotoStack

pytestmark = [pytest.mark.usefixtures("aws"), pytest.mark.slow]

IMAGES = int(os.environ.get("IMGPIPE_FLOOD_IMAGES", "500"))
WORKERS = int(os.environ.get("IMGPIPE_FLOOD_WORKERS", "4"))
WAVE = int(os.environ.get("IMGPIPE_FLOOD_WAVE", "500"))
NAMES = ("cat.jpg", "weapon.jpg", "serial_label.jpg", "plain.jpg")


def test_flood_every_image_accounted_for() -> None:
    # GIVEN a stack with idempotency, a zero-latency detector and no faults
    stack = MotoStack(max_receive_count=5)
    plan = FaultPlan()
    detector = FakeDetector.by_name()
    analyzer = stack.analyzer(detector, plan=plan)
    data = picture()
    keys: list[str] = []
    invocations = 0
    # WHEN waves of uploads are drained by several workers
    for start in range(0, IMAGES, WAVE):
        for i in range(start, min(IMAGES, start + WAVE)):
            keys.append(stack.upload(f"flood/{i // 100:03d}/{i:05d} {NAMES[i % 4]}", data))
        stats = stack.drain(analyzer.handle, workers=WORKERS)
        invocations += stats.invocations
        assert (stats.crashes, stats.function_errors, stats.item_failures) == (0, 0, 0), stats
    # THEN every image is analysed once, announced once, and nothing is left in the queues
    tally = stack.check(plan, keys=keys)
    assert tally.problems == [], tally.problems[:5]
    assert tally.analysed == IMAGES and tally.in_dlq == 0 and tally.lost == 0
    assert tally.notifications == IMAGES and tally.duplicate_notifications == 0
    assert stack.queue_messages(stack.dlq_url) == []
    assert detector.calls["DetectLabels"] == IMAGES  # one call per API per image
    assert invocations >= IMAGES / 10
