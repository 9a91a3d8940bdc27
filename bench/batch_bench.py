"""Analyzer batch benchmark: a batch of 10 images against a detector that sleeps 200 ms per call.

The handler's real code path (SQS parsing, batch runner, pipeline, logging, metrics) runs with an
in-memory storage and notifier; only the detector is slow, like Rekognition. Prints the batch's
wall time as a ratio to one detector call: a sequential handler would be >= 10x.

    .venv/bin/python bench/batch_bench.py            # full run (~5 s)
    .venv/bin/python bench/batch_bench.py --quick    # smoke run: 20 ms per call

Target (issue 3): <= 1.5x with the default MAX_WORKERS.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import _docs  # noqa: E402  (bench/ is on sys.path when a script runs)
from aws_lambda_powertools import Logger  # noqa: E402

from analyzer.app import Analyzer  # noqa: E402
from analyzer.config import Settings  # noqa: E402
from analyzer.ports import Detection, ImageSource  # noqa: E402
from imgpipe.memory import ListNotifier, MemoryStorage  # noqa: E402
from rules import Needs, parse_ruleset  # noqa: E402

BLOCK = _docs.Block("performance.md", "batch")

RULES = """\
version: 1
name: bench
rules:
  - name: cat
    type: label_match
    labels: [Cat]
    outcome: success
"""
LABELS = json.loads((ROOT / "tests/events/rekognition/detect_labels/cat.json").read_text())
PHOTO = (ROOT / "samples/animals/cat.jpg").read_bytes()
BUCKET = "imgpipe-bench"


class SleepingDetector:
    """Like Rekognition: one blocking call of ``seconds`` per needed API."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        detection = Detection()
        for api, feature in zip(needs.api_calls, needs.features, strict=True):
            if self.seconds:
                time.sleep(self.seconds)
            detection.responses[feature] = LABELS if feature == "labels" else {}
            detection.calls[api] = 1
        return detection


def sqs_event(keys: list[str]) -> dict[str, Any]:
    records = []
    for i, key in enumerate(keys):
        body = {"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
            "eventTime": "2026-11-29T08:00:00.000Z", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": BUCKET},
                   "object": {"key": key.replace(" ", "+"), "size": len(PHOTO),
                              "eTag": f"etag{i}", "sequencer": f"00{i:016X}"}},
        }]}
        records.append({"messageId": f"m-{i}", "receiptHandle": "rh", "body": json.dumps(body),
                        "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
                        "eventSource": "aws:sqs", "awsRegion": "eu-west-1",
                        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:bench"})
    return {"Records": records}


@functools.cache
def sink_logger() -> Logger:
    """The handler's JSON logger, writing to /dev/null (formatting cost kept, terminal I/O not)."""
    sink = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the run
    return Logger(service="imgpipe-bench", logger_handler=sink)


def build(detector: Any, storage: MemoryStorage, **env: str) -> Analyzer:
    """The handler's Analyzer over in-memory ports; logs are formatted, then discarded."""
    settings = Settings.from_env({"RULES_PATH": "<inline>", "BUCKET_NAME": BUCKET, **env})
    return Analyzer(settings, parse_ruleset(RULES, "bench.yaml"), s3_client=None,
                    detector=detector, notifier=ListNotifier(), logger=sink_logger(),
                    storage_factory=lambda bucket: storage)


def run_batch_once(analyzer: Analyzer, storage: MemoryStorage, n: int) -> float:
    keys = [f"images/bench/photo {i}.jpg" for i in range(n)]
    for key in keys:
        storage.put(key, PHOTO)
    event = sqs_event(keys)
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        response = analyzer.handle(event, None)
        elapsed = time.perf_counter() - started
    assert response == {"batchItemFailures": []}, response
    assert all(k not in storage.objects for k in keys)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 ms per call, fewer repeats")
    args = parser.parse_args()
    seconds = 0.02 if args.quick else 0.2
    repeats = 2 if args.quick else 5
    n = 10

    detector = SleepingDetector(seconds)
    one = []
    for _ in range(3):
        started = time.perf_counter()
        detector.detect(None, Needs.of("labels"))  # type: ignore[arg-type]
        one.append(time.perf_counter() - started)
    one_call = statistics.median(one)

    storage = MemoryStorage()
    analyzer = build(detector, storage)
    run_batch_once(analyzer, storage, n)  # warm-up
    walls = [run_batch_once(analyzer, storage, n) for _ in range(repeats)]
    wall = statistics.median(walls)

    sequential = build(detector, MemoryStorage(), MAX_WORKERS="1")
    seq_wall = run_batch_once(sequential, sequential.pipeline_for(BUCKET).storage, n)  # type: ignore[arg-type]

    print(f"analyzer batch bench — Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"  one detector call              {one_call * 1000:8.1f} ms")
    print(f"  batch of {n}, MAX_WORKERS={analyzer.settings.max_workers}      "
          f"{wall * 1000:8.1f} ms  (median of {repeats})  ratio {wall / one_call:5.2f}x  "
          "(target <= 1.5x)")
    print(f"  batch of {n}, MAX_WORKERS=1      {seq_wall * 1000:8.1f} ms  "
          f"ratio {seq_wall / one_call:5.2f}x  (sequential, for contrast)")


if __name__ == "__main__":
    _docs.main(main, BLOCK)
