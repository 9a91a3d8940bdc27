"""Running one SQS batch: parse, filter, de-duplicate, process concurrently, report failures.

Pure orchestration: the work for one object is an injected callable (the pipeline, possibly
wrapped in idempotency), so this module is tested without AWS. Semantics (docs/contracts.md §5):

- a message fails (``batchItemFailures``) if its body is malformed, if one of its records is, or if
  the work for one of its objects raised; its batch-mates are unaffected;
- ``s3:TestEvent`` messages and records that are not ours (other bucket, outside the input prefix,
  folder markers, non-ObjectCreated events) are acknowledged with a log line;
- the same object (bucket, key, identity) named by several messages is processed once; different
  uploads of one key run one after another in event order; different keys run concurrently on a
  bounded thread pool.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypedDict

from analyzer.errors import MalformedRecordError, ModelUnavailableError
from analyzer.events import ParsedMessage, parse_message, skip_reason
from analyzer.ports import ObjectRef
from analyzer.results import ImageOutcome

#: The work for one object: the pipeline, possibly wrapped in idempotency.
Work = Callable[[ObjectRef], ImageOutcome]


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


@dataclass(slots=True)
class BatchReport:
    """What happened to a batch; :meth:`response` is the Lambda's return value."""

    failed_message_ids: list[str] = field(default_factory=list)
    outcomes: list[ImageOutcome] = field(default_factory=list)
    errors: list[tuple[ObjectRef, BaseException]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    malformed: int = 0
    test_events: int = 0
    duplicates: int = 0

    def response(self) -> PartialBatchResponse:
        return {"batchItemFailures": [{"itemIdentifier": m} for m in self.failed_message_ids]}


def job_id(ref: ObjectRef) -> tuple[str, str, str]:
    """The identity of one piece of work: bucket, key and object identity."""
    return (ref.bucket, ref.key, ref.identity)


def run_batch(
    records: Iterable[Mapping[str, Any]],
    work: Work,
    *,
    input_prefix: str,
    bucket_name: str | None = None,
    max_workers: int = 10,
    logger: logging.Logger | Any = None,
) -> BatchReport:
    """Process an SQS batch's records; never raises for a record's failure."""
    log = logger or logging.getLogger(__name__)
    report = BatchReport()
    order: list[str] = []  # message ids in batch order
    failed: set[str] = set()
    jobs: dict[tuple[str, str, str], ObjectRef] = {}
    job_messages: dict[tuple[str, str, str], list[str]] = {}

    for index, record in enumerate(records):
        message_id = str(record.get("messageId") or f"<record {index}>")
        order.append(message_id)
        try:
            message: ParsedMessage = parse_message(dict(record))
        except MalformedRecordError as exc:
            report.malformed += 1
            failed.add(message_id)
            log.error(
                "malformed SQS message; left for the DLQ",
                extra={"message_id": message_id, "error": str(exc), "body": _clip(record.get("body"))},
            )
            continue
        if message.test_event:
            report.test_events += 1
            log.info("s3:TestEvent acknowledged", extra={"message_id": message_id})
            continue
        if message.errors:
            report.malformed += 1
            failed.add(message_id)
            log.error(
                "malformed S3 records in message; left for the DLQ",
                extra={"message_id": message_id, "errors": list(message.errors)},
            )
        for event in message.events:
            reason = skip_reason(event, input_prefix=input_prefix, bucket_name=bucket_name)
            if reason is not None:
                report.skipped[reason] += 1
                log.info(
                    "record skipped",
                    extra={"message_id": message_id, "reason": reason, "bucket": event.ref.bucket,
                           "object_key": event.ref.key, "event_name": event.event_name},
                )
                continue
            jid = job_id(event.ref)
            if jid in jobs:
                report.duplicates += 1
            else:
                jobs[jid] = event.ref
            job_messages.setdefault(jid, []).append(message_id)

    # One lane per (bucket, key): uploads of one key in order, different keys in parallel.
    lanes: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for jid in jobs:
        lanes.setdefault(jid[:2], []).append(jid)

    def run_lane(lane: list[tuple[str, str, str]]) -> list[tuple[tuple[str, str, str], Any]]:
        results: list[tuple[tuple[str, str, str], Any]] = []
        for jid in lane:
            ref = jobs[jid]
            try:
                results.append((jid, work(ref)))
            except Exception as exc:  # reported as a batch item failure, never swallowed
                log_retried(log, "processing failed; message will be retried", exc,
                            {"bucket": ref.bucket, "object_key": ref.key})
                results.append((jid, exc))
        return results

    lane_list = list(lanes.values())
    if len(lane_list) <= 1 or max_workers <= 1:
        lane_results = [run_lane(lane) for lane in lane_list]
    else:
        with ThreadPoolExecutor(max_workers=min(max_workers, len(lane_list))) as pool:
            lane_results = list(pool.map(run_lane, lane_list))

    for results in lane_results:
        for jid, result in results:
            if isinstance(result, BaseException):
                report.errors.append((jobs[jid], result))
                failed.update(job_messages[jid])
            else:
                report.outcomes.append(result)

    seen: set[str] = set()
    for message_id in order:
        if message_id in failed and message_id not in seen:
            seen.add(message_id)
            report.failed_message_ids.append(message_id)
    return report


def log_retried(log: logging.Logger | Any, message: str, exc: BaseException, extra: dict[str, Any]) -> None:
    """Log the failure of one item whose message will be retried.

    A custom model that cannot answer (:class:`ModelUnavailableError`) is an operator's problem,
    logged as what it is: the line says which model is not running (or not found) and what to do,
    with no traceback; ``error`` carries the same text for ``imgpipe dlq inspect``. Anything else
    is logged with ``message`` and its traceback.
    """
    extra = {**extra, "error_type": type(exc).__name__}
    if isinstance(exc, ModelUnavailableError):
        log.error(str(exc), extra={**extra, "error": str(exc), "error_code": exc.code,
                                   "model": exc.model})
    else:
        log.exception(message, extra=extra)


def _clip(value: object, limit: int = 512) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
