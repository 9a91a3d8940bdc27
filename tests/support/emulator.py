"""Lambda's SQS event source mapping, played against a handler in-process.

:func:`drain` receives up to 10 messages, invokes the handler with the SQS event Lambda would
pass, deletes what succeeded, makes the failures visible again (the visibility timeout "elapses"
at once) and lets SQS move a message to the DLQ after ``maxReceiveCount`` receives; several
workers may drain concurrently. A :class:`~tests.support.faults.Crash` is a process that died: the
whole batch comes back, and its idempotency in-progress records have expired.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.support.fakes import REGION, FakeContext
from tests.support.faults import Crash

if TYPE_CHECKING:
    from tests.support.world import MotoStack


@dataclass(slots=True)
class DrainStats:
    invocations: int = 0
    crashes: int = 0
    function_errors: int = 0
    item_failures: int = 0
    deleted: int = 0
    seconds: float = 0.0
    harness_errors: list[str] = field(default_factory=list)


def sqs_record(message: dict[str, Any], queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """One SQS message as a record of the event Lambda passes to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes") or {},
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sqs_event(
    messages: list[dict[str, Any]], queue_arn: str, region: str = REGION
) -> dict[str, Any]:
    """The SQS event Lambda's event source mapping would pass for these messages."""
    return {"Records": [sqs_record(m, queue_arn, region) for m in messages]}


def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message of a queue, made visible again afterwards."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                    VisibilityTimeout=30).get("Messages") or []
        batch = [m for m in batch if m["MessageId"] not in seen]
        if not batch:
            break
        seen.update(m["MessageId"] for m in batch)
        out.extend(batch)
    for i in range(0, len(out), 10):
        release(sqs, url, out[i:i + 10])
    return out


def release(sqs: Any, url: str, msgs: list[dict[str, Any]]) -> None:
    """The visibility timeout elapses: the messages are visible again."""
    sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[{"Id": str(j), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                 for j, m in enumerate(msgs)],
    )


def _next_millisecond() -> None:
    """Let the in-progress window of a dead invocation pass (at most ~2 ms, no sleep)."""
    end = int(time.time() * 1000) + 2
    while int(time.time() * 1000) < end:
        pass


def drain(
    stack: MotoStack,
    handle: Callable[[dict[str, Any], Any], Any],
    *,
    workers: int = 1,
    batch_size: int = 10,
    max_invocations: int = 10_000,
) -> DrainStats:
    """Feed the queue to ``handle`` until it is empty; return what happened."""
    stats = DrainStats()
    lock = threading.Condition()
    in_flight = [0]
    started = time.perf_counter()

    def worker() -> None:
        try:
            loop()
        except BaseException as exc:  # a harness failure must not pass for a lost image
            with lock:
                stats.harness_errors.append(f"{type(exc).__name__}: {exc}")
                lock.notify_all()

    def loop() -> None:
        while True:
            with lock:
                if stats.invocations >= max_invocations:
                    return
            with stack.sqs_lock:
                msgs = stack.sqs.receive_message(
                    QueueUrl=stack.queue_url, MaxNumberOfMessages=batch_size,
                    VisibilityTimeout=360, AttributeNames=["All"],
                ).get("Messages") or []
            if not msgs:
                with lock:
                    if in_flight[0] == 0:
                        return
                    lock.wait(timeout=0.05)  # another worker may release failed messages
                continue
            with lock:
                in_flight[0] += 1
                stats.invocations += 1
            try:
                _invoke(stack, handle, msgs, stats, lock)
            finally:
                with lock:
                    in_flight[0] -= 1
                    lock.notify_all()

    if workers <= 1:
        worker()
    else:
        threads = [threading.Thread(target=worker, name=f"esm-{i}") for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    stats.seconds = time.perf_counter() - started
    assert not stats.harness_errors, stats.harness_errors
    assert stats.invocations < max_invocations, "the queue never drained"
    return stats

def _invoke(
    stack: MotoStack,
    handle: Callable[[dict[str, Any], Any], Any], msgs: list[dict[str, Any]],
            stats: DrainStats, lock: threading.Condition) -> None:
    event = {"Records": [sqs_record(m, stack.queue_arn_value) for m in msgs]}
    try:
        response = handle(event, FakeContext(remaining_ms=0, function_name="imgpipe-analyzer"))
    except Crash:
        with lock:
            stats.crashes += 1
        _release(stack, msgs)
        _next_millisecond()
        return
    except Exception:  # a function error: the whole batch comes back
        with lock:
            stats.function_errors += 1
        _release(stack, msgs)
        return
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    known = {m["MessageId"] for m in msgs}
    assert failed <= known, f"unknown itemIdentifier in {failed - known}"
    done = [m for m in msgs if m["MessageId"] not in failed]
    for i in range(0, len(done), 10):
        with stack.sqs_lock:
            stack.sqs.delete_message_batch(
                QueueUrl=stack.queue_url,
                Entries=[{"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]}
                         for j, m in enumerate(done[i:i + 10])],
            )
    _release(stack, [m for m in msgs if m["MessageId"] in failed])
    with lock:
        stats.item_failures += len(failed)
        stats.deleted += len(done)

def _release(stack: MotoStack, msgs: list[dict[str, Any]]) -> None:
    """The visibility timeout elapses: the messages are visible again."""
    if msgs:
        with stack.sqs_lock:
            release(stack.sqs, stack.queue_url, msgs)
