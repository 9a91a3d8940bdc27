"""Fleet re-judging, measured: the laptop's enqueue side, the function's work per image, the bytes
of a stored analysis, and the 10-million-image arithmetic at the prod stack's settings.

    .venv/bin/python bench/enqueue_bench.py [IMAGES]        # default 200 re-judged in moto
    .venv/bin/python bench/enqueue_bench.py --write-docs    # also into docs/rejudge.md

1. stored analysis bytes per image (recorded Rekognition fixtures, and a busy synthetic image at
   the APIs' documented maxima);
2. enqueue, CPU only (a null SQS client): how fast one laptop builds and batches messages;
3. enqueue into moto SQS from a moto S3 listing of result records (in-process; real SQS adds a
   network round trip per SendMessageBatch, see docs/rejudge.md);
4. the function re-judging IMAGES images in moto (S3 and DynamoDB calls per image, counted);
5. the fleet-side time for 10 million images at Pulumi.prod.yaml's maxConcurrency x maxWorkers.

Prints figures; no thresholds. ``--write-docs`` writes what a run printed into the ``enqueue``
block of docs/rejudge.md (bench/_docs.py).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import _docs  # bench/ is on sys.path when a script runs

BLOCK = _docs.Block("rejudge.md", "enqueue")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the project root, so that the package ``tests`` imports
    sys.path.insert(0, str(ROOT))

#: Typical in-region latencies (seconds) used for the fleet arithmetic; see docs/rejudge.md.
LATENCY = {"s3.get_object": 0.02, "s3.head_object": 0.02, "s3.put_object": 0.04,
           "s3.copy_object": 0.08, "s3.delete_object": 0.03, "s3.restore_object": 0.05,
           "sns.publish": 0.03, "dynamodb": 0.008}


def busy_responses() -> dict[str, Any]:
    """A busy photo at the documented maxima: 100 labels with parents, aliases, categories and
    boxes; 20 moderation labels; 100 words (DetectText's limit) and their 25 lines."""
    box = {"Width": 0.123456, "Height": 0.234567, "Left": 0.345678, "Top": 0.456789}
    labels = [{"Name": f"Label number {i}", "Confidence": 91.23456789,
               "Instances": [{"BoundingBox": box, "Confidence": 88.8888}] * (i % 4),
               "Parents": [{"Name": f"Parent {i % 7}"}, {"Name": f"Grandparent {i % 3}"}],
               "Aliases": [{"Name": f"Alias {i}"}],
               "Categories": [{"Name": f"Category {i % 11}"}]} for i in range(100)]
    moderation = [{"Confidence": 77.7777, "Name": f"Moderation {i}", "ParentName": "Violence",
                   "TaxonomyLevel": 2} for i in range(20)]
    polygon = [{"X": 0.1234, "Y": 0.2345}] * 4
    words = [{"DetectedText": f"WORD{i:03d}", "Type": "WORD", "Id": 25 + i, "ParentId": i // 4,
              "Confidence": 99.123456, "Geometry": {"BoundingBox": box, "Polygon": polygon}}
             for i in range(100)]
    lines = [{"DetectedText": " ".join(f"WORD{j:03d}" for j in range(i * 4, i * 4 + 4)),
              "Type": "LINE", "Id": i, "Confidence": 99.0,
              "Geometry": {"BoundingBox": box, "Polygon": polygon}} for i in range(25)]
    return {"labels": {"Labels": labels, "LabelModelVersion": "3.0"},
            "moderation": {"ModerationLabels": moderation, "ModerationModelVersion": "7.0"},
            "text": {"TextDetections": lines + words, "TextModelVersion": "3.0"}}


def stored_bytes() -> None:
    from analyzer.stored import pack_analysis
    from imgpipe.ops.rejudge_cost import stored_analysis_storage_usd
    from tests.support.paths import EVENTS, REKOGNITION_DIRS

    print("== 1. stored analysis per image (gzip -9 + base64, inside the result record)")
    fixtures = EVENTS / "rekognition"
    sizes = []
    for scenario in sorted(p.stem for p in (fixtures / "detect_labels").glob("*.json")):
        responses = {}
        for feature, folder in REKOGNITION_DIRS.items():
            path = fixtures / folder / f"{scenario}.json"
            if path.exists():
                responses[feature] = json.loads(path.read_text())
        packed = pack_analysis(responses)
        sizes.append(packed["bytes"])
        print(f"  {scenario:14s} raw {packed['raw_bytes']:6d} B -> stored {packed['bytes']:6d} B")
    busy = pack_analysis(busy_responses())
    print(f"  {'busy (maxima)':14s} raw {busy['raw_bytes']:6d} B -> stored {busy['bytes']:6d} B")
    for label, size in (("recorded fixtures, mean", sum(sizes) // len(sizes)),
                        ("busy photo", busy["bytes"])):
        usd = stored_analysis_storage_usd(10_000_000, size)
        print(f"  {label}: {size} B/image -> 10 million images {size * 1e7 / 1e9:.2f} GB, "
              f"{usd} USD/month in S3 Standard")


class NullSqs:
    def __init__(self) -> None:
        self.batches = 0
        self.bytes = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.batches += 1
        self.bytes += sum(len(e["MessageBody"]) for e in Entries)
        return {"Successful": Entries}


def enqueue_cpu(images: int = 1_000_000) -> None:
    from analyzer.layout import DEFAULT_LAYOUT
    from imgpipe.ops.rejudge import Target, enqueue
    from rules import Verdict

    print(f"== 2. enqueue {images:,} images, CPU only (null SQS client), 20 per message")
    targets = (Target(Verdict.SUCCESS,
                      DEFAULT_LAYOUT.source_key(f"cams/{i // 1000:05d}/{i:08d}.jpg"))
               for i in range(images))
    sqs = NullSqs()
    result = enqueue(sqs, "null", "imgpipe-prod-images", targets, senders=1)
    print(f"  {result.messages:,} messages in {sqs.batches:,} SendMessageBatch calls, "
          f"{sqs.bytes / result.messages:.0f} B/message, {result.seconds:.1f} s: "
          f"{result.images_per_second:,.0f} images/s on one core")


def enqueue_moto(records: int = 5000) -> None:
    from moto import mock_aws

    from analyzer.layout import DEFAULT_LAYOUT
    from imgpipe.ops.rejudge import enqueue, listed_targets

    print(f"== 3. list {records:,} result records in moto S3 and enqueue them into moto SQS")
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="eu-west-1")
        sqs = boto3.client("sqs", region_name="eu-west-1")
        s3.create_bucket(Bucket="bench", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        url = sqs.create_queue(QueueName="bench")["QueueUrl"]
        for i in range(records):
            key = DEFAULT_LAYOUT.record_key(DEFAULT_LAYOUT.source_key(f"cams/{i:06d}.jpg"),
                                            "success")
            s3.put_object(Bucket="bench", Key=key, Body=b"{}")
        started = time.perf_counter()
        targets = list(listed_targets(s3, "bench", ""))
        listed = time.perf_counter() - started
        result = enqueue(sqs, url, "bench", targets, senders=1)
        print(f"  listing {len(targets):,} records: {listed:.2f} s "
              f"({len(targets) / listed:,.0f} records/s, {len(targets) // 1000 + 1} pages)")
        print(f"  enqueue: {result.messages:,} messages, {result.batches:,} batches, "
              f"{result.seconds:.2f} s: {result.images_per_second:,.0f} images/s "
              f"({result.batches / result.seconds:,.0f} SendMessageBatch/s in-process)")


def function_side(images: int) -> dict[str, float]:
    from moto import mock_aws

    from imgpipe.ops.rejudge import enqueue, listed_targets
    from tests.support.fakes import RELIABILITY_RULES, reliability_ruleset
    from tests.support.faults import FaultPlan, aws_client
    from tests.support.images import picture
    from tests.support.world import MotoStack

    print(f"== 4. the function re-judges {images} images in moto (MAX_WORKERS=4, idempotency on)")
    changed_rules = RELIABILITY_RULES.replace("    labels: [Cat]\n    outcome: success",
                                              "    labels: [Cat]\n    outcome: failure")
    names = ("cat.jpg", "plain.jpg", "weapon.jpg", "serial_label.jpg")
    per_image: dict[str, float] = {}
    with mock_aws():
        stack = MotoStack(max_receive_count=5)
        data = picture()
        for i in range(images):
            stack.upload(f"bench/{i:05d} {names[i % 4]}", data)
        stack.drain(stack.analyzer(plan=FaultPlan()).handle, workers=1)
        stack.rules = reliability_ruleset(changed_rules)
        sent = enqueue(stack.sqs, stack.queue_url, stack.bucket,
                       listed_targets(stack.s3, stack.bucket, "bench/"), senders=1)
        plan = FaultPlan()
        stats = stack.drain(stack.analyzer(plan=plan).handle, workers=1)
        ddb = aws_client("dynamodb").scan(TableName=stack.table)["Count"]
        changed = sum(1 for p in plan.published if p.get("rejudged"))
    calls = Counter({k: v for k, v in plan.calls.items() if not k.startswith("sqs.")})
    rekognition = sum(n for k, n in calls.items() if k.startswith("rekognition."))
    print(f"  {sent.images} images in {sent.messages} messages, {stats.invocations} invocations, "
          f"{stats.seconds:.2f} s in moto ({stats.seconds / images * 1000:.1f} ms/image, "
          f"moto-bound); {changed} changed verdict, {rekognition} Rekognition calls")
    unchanged = images - changed
    for name, n in sorted(calls.items()):
        print(f"  {name:22s} {n:5d}  ({n / images:.2f}/image)")
    # per-image latency model: unchanged = 3 GET + 1 PUT; changed adds HEAD x2, COPY, PUT,
    # DELETE x2, SNS; plus 2 DynamoDB writes for the idempotency record
    base = 3 * LATENCY["s3.get_object"] + LATENCY["s3.put_object"] + 2 * LATENCY["dynamodb"]
    extra = (2 * LATENCY["s3.head_object"] + LATENCY["s3.copy_object"] + LATENCY["s3.put_object"]
             + 2 * LATENCY["s3.delete_object"] + LATENCY["sns.publish"])
    per_image["unchanged"] = base
    per_image["changed"] = base + extra
    print(f"  idempotency records: {ddb}; latency model: unchanged {base * 1000:.0f} ms, "
          f"changed {(base + extra) * 1000:.0f} ms per image (in-region figures, docs/rejudge.md)")
    _ = unchanged
    return per_image


def fleet_arithmetic(per_image: dict[str, float]) -> None:
    import yaml

    from analyzer.config import Settings
    from imgpipe.ops.rejudge import FleetEstimate

    config = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    concurrency = int(config["image-pipeline:maxConcurrency"])
    workers = int(config["image-pipeline:maxWorkers"])
    tps = float(config["image-pipeline:rekognitionTpsQuota"])
    rejudge_workers = Settings.model_fields["rejudge_workers"].default
    print(f"== 5. 10 million images on the prod stack (maxConcurrency {concurrency}; "
          f"REJUDGE_WORKERS {rejudge_workers} re-judges per invocation at once, maxWorkers "
          f"{workers} for re-analysis)")
    for label, per_invocation in (("REJUDGE_WORKERS", rejudge_workers), ("maxWorkers", workers)):
        for changed in (0.0, 0.05, 0.5):
            seconds = (1 - changed) * per_image["unchanged"] + changed * per_image["changed"]
            est = FleetEstimate(10_000_000, concurrency, per_invocation, seconds)
            print(f"  re-judge, {label} {per_invocation:2d}, {changed:4.0%} changed: "
                  f"{seconds * 1000:.0f} ms/image -> {est.images_per_second:,.0f} images/s -> "
                  f"{est.seconds / 3600:.1f} h")
    print(f"  re-analyse: bounded by the Rekognition quota ({tps:g} TPS per API): "
          f"{10_000_000 / tps / 3600:.1f} h at best")


def main() -> None:
    images = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    stored_bytes()
    enqueue_cpu()
    enqueue_moto()
    fleet_arithmetic(function_side(images))


if __name__ == "__main__":
    _docs.main(main, BLOCK)
