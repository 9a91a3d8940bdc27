"""Fleet re-judging and re-analysis: the laptop only enqueues, the stack's function does the work.

``imgpipe reprocess PREFIX --mode rejudge|reanalyse`` lists the result records under PREFIX (or
reads an S3 Inventory / key-list manifest instead of listing) and sends re-judge messages
(:mod:`analyzer.rejudge`) to the stack's queue, ``--per-message`` images each, ten messages per
``SendMessageBatch``, from ``--senders`` threads. The function consumes them at the stack's
concurrency (``maxConcurrency`` x ``maxWorkers``), with its idempotency and partial batch
failures, and re-judges each image from its stored analysis (zero Rekognition calls) or, with
``reanalyse``, calls Rekognition again on the analysed copy.

Every run has an id (``--run``; default: the time and a random suffix). Re-sending the same run
(after an interrupted enqueue) is safe: the function's idempotency answers images already done;
a new run re-judges again.
"""

from __future__ import annotations

import csv
import json
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from analyzer.layout import DEFAULT_LAYOUT, VERDICTS, KeyLayout
from analyzer.rejudge import MODES, RESTORE_TIERS, rejudge_message
from imgpipe.ops.errors import ReprocessError
from imgpipe.ops.reprocess import split_prefix
from rules import Verdict

#: SQS: at most 10 entries per SendMessageBatch, 256 KiB per batch.
BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


@dataclass(frozen=True, slots=True)
class Target:
    """One image to re-judge: where its record was seen, and its source key."""

    verdict: Verdict
    source_key: str


@dataclass(slots=True)
class EnqueueResult:
    run: str
    mode: str
    images: int = 0
    messages: int = 0
    batches: int = 0
    retried_entries: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    by_verdict: dict[str, int] = field(default_factory=dict)  # plain verdict names (JSON keys)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "mode": self.mode, "images": self.images,
                "messages": self.messages, "send_batches": self.batches,
                "retried_entries": self.retried_entries, "seconds": round(self.seconds, 3),
                "images_per_second": round(self.images_per_second, 1), "dry_run": self.dry_run,
                "by_verdict": dict(self.by_verdict)}


def listed_targets(
    s3: Any,
    bucket: str,
    prefix: str,
    *,
    layout: KeyLayout = DEFAULT_LAYOUT,
    verdicts: tuple[str, ...] | None = None,
) -> Iterator[Target]:
    """The images whose records lie under ``results/<verdict>/<PREFIX>`` (ListObjectsV2)."""
    only, rel_prefix = split_prefix(prefix, layout)
    for verdict in (v for v in (verdicts or VERDICTS) if only is None or v in only):
        base = layout.results_folder(verdict)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                 Prefix=base + rel_prefix):
            for obj in page.get("Contents") or []:
                target = target_of(obj["Key"], layout)
                if target is not None:
                    yield target


def target_of(record_key: str, layout: KeyLayout = DEFAULT_LAYOUT) -> Target | None:
    """``results/<verdict>/<rel>.json`` -> the image's target (None for any other key)."""
    results_prefix = layout.results_prefix
    if not record_key.startswith(results_prefix) or not record_key.endswith(".json"):
        return None
    verdict, sep, rel = record_key[len(results_prefix):-len(".json")].partition("/")
    if verdict not in VERDICTS or not sep or not rel:
        return None
    return Target(Verdict(verdict), layout.source_key(rel))


def manifest_targets(
    path: Path, *, layout: KeyLayout = DEFAULT_LAYOUT, verdicts: tuple[str, ...] | None = None,
) -> Iterator[Target]:
    """Targets from a manifest instead of a listing: an S3 Inventory CSV (``"bucket","key",...``,
    keys URL-encoded) or a text file of record keys, one a line."""
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            if not row:
                continue
            key = unquote_plus(row[1]) if len(row) > 1 else row[0].strip()
            target = target_of(key, layout)
            if target is not None and (not verdicts or target.verdict in verdicts):
                yield target


def _chunks(items: Iterable[Target], size: int) -> Iterator[list[Target]]:
    chunk: list[Target] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def enqueue(
    sqs: Any,
    queue_url: str,
    bucket: str,
    targets: Iterable[Target],
    *,
    mode: str = "rejudge",
    run: str | None = None,
    per_message: int = 20,
    senders: int = 4,
    rules_sha256: str | None = None,
    restore_tier: str = "Bulk",
    restore_days: int = 7,
    dry_run: bool = False,
    max_images: int | None = None,
) -> EnqueueResult:
    """Send re-judge messages for ``targets``; returns counts and the enqueue rate."""
    if mode not in MODES:
        raise ReprocessError(f"mode {mode!r}: expected {' or '.join(MODES)}")
    if restore_tier not in RESTORE_TIERS:
        raise ReprocessError(f"restore tier {restore_tier!r}: expected {', '.join(RESTORE_TIERS)}")
    if not 1 <= per_message <= 100:
        raise ReprocessError("--per-message must be between 1 and 100")
    result = EnqueueResult(run or new_run_id(), mode, dry_run=dry_run)
    lock = threading.Lock()
    started = time.perf_counter()

    def limited() -> Iterator[Target]:
        for n, target in enumerate(targets):
            if max_images is not None and n >= max_images:
                return
            with lock:
                result.images += 1
                name = str(target.verdict)
                result.by_verdict[name] = result.by_verdict.get(name, 0) + 1
            yield target

    def bodies() -> Iterator[str]:
        for chunk in _chunks(limited(), per_message):
            items = [{"source_key": t.source_key, "verdict": str(t.verdict)} for t in chunk]
            yield json.dumps(rejudge_message(bucket, result.run, items, mode=mode,
                                             rules_sha256=rules_sha256,
                                             restore_tier=restore_tier,
                                             restore_days=restore_days),
                             separators=(",", ":"), ensure_ascii=False)

    def send(batch: list[str]) -> None:
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(batch)]
        for attempt in range(5):
            answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            failed = {f["Id"] for f in answer.get("Failed") or []}
            if not failed:
                break
            with lock:
                result.retried_entries += len(failed)
            entries = [e for e in entries if e["Id"] in failed]
            time.sleep(0.1 * 2**attempt)
        else:
            raise ReprocessError(f"SQS refused {len(entries)} message(s) five times")
        with lock:
            result.batches += 1

    def batches() -> Iterator[list[str]]:
        batch: list[str] = []
        size = 0
        for body in bodies():
            if batch and (len(batch) >= BATCH_ENTRIES or size + len(body) > MAX_BATCH_BYTES):
                yield batch
                batch, size = [], 0
            batch.append(body)
            size += len(body)
            result.messages += 1
        if batch:
            yield batch

    if dry_run:
        for _ in batches():
            pass
    elif senders <= 1:
        for batch in batches():
            send(batch)
    else:
        with ThreadPoolExecutor(max_workers=senders) as pool:
            pending = []
            for batch in batches():
                pending.append(pool.submit(send, batch))
                if len(pending) >= senders * 4:  # bounded memory for millions of images
                    pending.pop(0).result()
            for future in pending:
                future.result()
    result.seconds = time.perf_counter() - started
    return result


# --- fleet-side arithmetic ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FleetEstimate:
    """How long the stack's function needs for N images at its concurrency."""

    images: int
    max_concurrency: int
    max_workers: int
    seconds_per_image: float

    @property
    def images_in_flight(self) -> int:
        return self.max_concurrency * self.max_workers

    @property
    def images_per_second(self) -> float:
        return self.images_in_flight / self.seconds_per_image

    @property
    def seconds(self) -> float:
        return self.images / self.images_per_second

    def to_dict(self) -> dict[str, Any]:
        return {"images": self.images, "max_concurrency": self.max_concurrency,
                "max_workers": self.max_workers, "seconds_per_image": self.seconds_per_image,
                "images_per_second": round(self.images_per_second, 1),
                "hours": round(self.seconds / 3600, 2)}
