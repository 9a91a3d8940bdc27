"""Analyzer handler benchmark: per-process throughput with zero-latency fakes, and cold start.

1. Throughput — the handler's real code path (SQS parsing, batch runner, pre-checks on real JPEG
   bytes, rule evaluation, result record, JSON logs, EMF metrics) over an in-memory storage, a
   notifier and a detector that answer instantly: images per second in one process.
2. Cold start — in fresh interpreters, interleaved: ``import analyzer.handler`` (settings, rules
   load, clients, Logger/Metrics) as a ratio to ``import boto3`` + creating the rekognition, s3 and
   sns clients. Each side is timed inside its interpreter (interpreter start-up excluded); the
   figure is the ratio of medians.

    .venv/bin/python bench/handler_bench.py            # full run (~40 s)
    .venv/bin/python bench/handler_bench.py --quick    # smoke run

Targets (issue 3): >= 200 images/s per process; cold start <= 1.5x the boto3 baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import _docs  # noqa: E402  (bench/ is on sys.path when a script runs)
from batch_bench import BUCKET, PHOTO, SleepingDetector, build, sqs_event  # noqa: E402

from imgpipe.memory import MemoryStorage  # noqa: E402

BLOCK = _docs.Block("performance.md", "handler")

BASELINE = """
import time
t, c = time.perf_counter(), time.process_time()
import boto3
s = boto3.session.Session()
s.client("rekognition"); s.client("s3"); s.client("sns")
print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)
"""

HANDLER = """
import time
t, c = time.perf_counter(), time.process_time()
import analyzer.handler
print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)
"""

#: Where the handler's extra init time goes, stage by stage, in one fresh interpreter.
BREAKDOWN = """
import json, os, time
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import botocore.session; mark("import botocore")
import pydantic, pydantic.main; mark("import pydantic")
import yaml; mark("import yaml")
from aws_lambda_powertools import Logger, Metrics; mark("import powertools Logger+Metrics")
import rules; mark("import rules (engine models)")
import analyzer.app; mark("import analyzer modules")
from analyzer.config import Settings
settings = Settings.from_env()
ruleset = rules.load_ruleset(settings.rules_path); ruleset.needs; mark("load + validate rules file")
analyzer.app.Analyzer.build(settings, ruleset=ruleset); mark("clients + Logger/Metrics objects")
print(json.dumps({n: (t - marks[i][1]) * 1000 for i, (n, t) in enumerate(marks[1:])}))
"""

RULES = ROOT / "rules" / "presets" / "wildlife.yaml"


def throughput(batches: int, workers: int) -> float:
    storage = MemoryStorage()
    analyzer = build(SleepingDetector(0.0), storage, MAX_WORKERS=str(workers))
    keys = [f"images/bench/photo {i}.jpg" for i in range(10)]
    event = sqs_event(keys)
    elapsed = 0.0
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # EMF lines
        for b in range(batches + 2):
            for key in keys:
                storage.put(key, PHOTO)
            started = time.perf_counter()
            response = analyzer.handle(event, None)
            if b >= 2:  # two warm-up batches
                elapsed += time.perf_counter() - started
            assert response == {"batchItemFailures": []}, response
    assert len(storage.records) == len(keys)
    return batches * len(keys) / elapsed


def cold(code: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of the snippet in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=True)
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    batches = 20 if args.quick else 200
    rounds = 2 if args.quick else 15

    print(f"analyzer handler bench — Python {platform.python_version()}, {os.cpu_count()} CPUs")
    for workers in (10, 1):
        rate = throughput(batches, workers)
        print(f"  throughput, MAX_WORKERS={workers:<2}         {rate:8.0f} images/s "
              f"({batches} batches of 10, zero-latency fakes; target >= 200/s)")

    base_env = {**os.environ, "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "x",
                "AWS_SECRET_ACCESS_KEY": "x"}
    for name in ("IDEMPOTENCY_TABLE", "TOPIC_ARN", "TRACING"):
        base_env.pop(name, None)
    handler_env = {**base_env, "RULES_PATH": str(RULES),
                   "TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:verdicts",
                   "BUCKET_NAME": BUCKET}
    variants = {
        "handler (SNS, no idempotency)": handler_env,
        "handler (SNS + idempotency)": {**handler_env, "IDEMPOTENCY_TABLE": "imgpipe-idem"},
    }
    cold(BASELINE, base_env)  # warm the page cache and .pyc files once
    for env in variants.values():
        cold(HANDLER, env)
    times: dict[str, list[tuple[float, float]]] = {"baseline": [], **{k: [] for k in variants}}
    for _ in range(rounds):
        times["baseline"].append(cold(BASELINE, base_env))
        for label, env in variants.items():
            times[label].append(cold(HANDLER, env))

    def med(label: str, i: int) -> float:
        return statistics.median(t[i] for t in times[label])

    # CPU time is the headline: on a shared machine wall time swings 2x between rounds
    base_cpu, base_wall = med("baseline", 1), med("baseline", 0)
    print(f"  cold: boto3 + 3 clients           {base_cpu:8.0f} ms CPU  {base_wall:6.0f} ms wall"
          f"  (medians of {rounds}, interleaved)")
    for label in variants:
        cpu, wall = med(label, 1), med(label, 0)
        print(f"  cold: {label:<28}{cpu:8.0f} ms CPU  {wall:6.0f} ms wall  "
              f"ratio {cpu / base_cpu:4.2f}x CPU, {wall / base_wall:4.2f}x wall  (target <= 1.5x)")
    print("  raw wall ms: " + json.dumps({k: [round(x[0]) for x in v] for k, v in times.items()}))

    stages: dict[str, list[float]] = {}
    for _ in range(rounds):
        out = subprocess.run([sys.executable, "-c", BREAKDOWN], env=handler_env, cwd=ROOT,
                             capture_output=True, text=True, check=True)
        for name, ms in json.loads(out.stdout.strip().splitlines()[-1]).items():
            stages.setdefault(name, []).append(ms)
    print("  cold start by stage (handler, no idempotency; medians):")
    for name, values in stages.items():
        print(f"    {name:<36}{statistics.median(values):6.0f} ms")


if __name__ == "__main__":
    _docs.main(main, BLOCK)
