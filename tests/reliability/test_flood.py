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

from tests.support.flood import flood

pytestmark = [pytest.mark.usefixtures("aws"), pytest.mark.slow]

IMAGES = int(os.environ.get("IMGPIPE_FLOOD_IMAGES", "500"))
WORKERS = int(os.environ.get("IMGPIPE_FLOOD_WORKERS", "4"))
WAVE = int(os.environ.get("IMGPIPE_FLOOD_WAVE", "500"))


def test_flood_every_image_accounted_for() -> None:
    # GIVEN a stack with idempotency, a zero-latency detector and no faults
    # WHEN waves of uploads are drained by several workers
    figures = flood(IMAGES, WORKERS, WAVE)
    # THEN every image is analysed once, announced once, nothing is left in the queues (the
    # harness asserts each), and the figures describe that run
    assert figures["images"] == IMAGES
    assert figures["invocations"] >= IMAGES / 10
    print(figures)
