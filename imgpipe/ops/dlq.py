"""The dead-letter queue: what is in it and why, and moving it back to the source queue.

``inspect_dlq`` peeks: it receives every message with a visibility timeout, then makes them all
visible again at once (their ``ApproximateReceiveCount`` grows by one; the DLQ has no redrive
policy, so nothing else changes). For each message it says what it carries (the S3 objects, or
why the body is malformed), where each object is now (still under the input prefix, already
analysed, or gone) and, given the function's log group, the last error logged for it.

``redrive`` uses SQS's native message-move task where the endpoint supports it and falls back to
a receive / send / delete loop that deletes a message from the DLQ only after the source queue
accepted its copy (a crash in between duplicates a message, which the pipeline absorbs; it
never loses one). Standard queues only (no FIFO group ids).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError

from analyzer.errors import MalformedRecordError
from analyzer.events import parse_message, skip_reason
from analyzer.layout import DEFAULT_LAYOUT, KeyLayout
from analyzer.s3 import head_object_or_none
from imgpipe.ops.errors import RedriveError

Strategy = Literal["auto", "native", "copy"]

#: Error codes meaning "this endpoint has no message-move task" (not "you may not").
_UNSUPPORTED_CODES = frozenset({
    "UnsupportedOperation",
    "AWS.SimpleQueueService.UnsupportedOperation",
    "InvalidAction",
    "UnknownOperationException",
    "NotImplemented",
})


@dataclass(slots=True)
class DlqObject:
    """One S3 object named by a DLQ message, and where it is now."""

    bucket: str
    key: str
    event_name: str
    state: str  # pending | done:<verdict> | missing | skipped:<reason> | unknown
    last_error: str | None = None


@dataclass(slots=True)
class DlqMessage:
    """One message of the DLQ."""

    message_id: str
    receive_count: int | None
    sent_at: str | None
    source_queue_arn: str | None
    body_excerpt: str
    problem: str | None = None  # malformed body, test event
    last_error: str | None = None  # logged for the message itself (malformed bodies)
    objects: list[DlqObject] = field(default_factory=list)

    @property
    def why(self) -> str:
        """The best-known reason this message is in the DLQ."""
        if self.problem:
            return self.problem
        if self.last_error:
            return self.last_error
        errors = [o.last_error for o in self.objects if o.last_error]
        if errors:
            return errors[-1]
        states = sorted({o.state for o in self.objects})
        return "unknown (no error logged); objects: " + ", ".join(states) if states else "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "receive_count": self.receive_count,
            "sent_at": self.sent_at,
            "source_queue_arn": self.source_queue_arn,
            "why": self.why,
            "problem": self.problem,
            "objects": [
                {"bucket": o.bucket, "key": o.key, "event_name": o.event_name,
                 "state": o.state, "last_error": o.last_error}
                for o in self.objects
            ],
            "body_excerpt": self.body_excerpt,
        }


@dataclass(slots=True)
class RedriveResult:
    """What a redrive did."""

    strategy: str  # native | copy | dry-run
    available: int  # approximate number of messages in the DLQ before
    moved: int = 0  # messages the copy loop moved (native: unknown until the task ends)
    failed: int = 0  # messages the source queue refused (left in the DLQ)
    not_deleted: int = 0  # copied but not deleted from the DLQ (will be redriven twice)
    task_handle: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "available": self.available, "moved": self.moved,
                "failed": self.failed, "not_deleted": self.not_deleted,
                "task_handle": self.task_handle}


# --- helpers -----------------------------------------------------------------------------------


def queue_arn(sqs: Any, queue_url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])


def approximate_count(sqs: Any, queue_url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attrs.get("ApproximateNumberOfMessages", 0))


def _receive(sqs: Any, url: str, limit: int, visibility: int, wait: int) -> list[dict[str, Any]]:
    resp = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=max(1, min(10, limit)),
        VisibilityTimeout=visibility,
        WaitTimeSeconds=wait,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return list(resp.get("Messages") or [])


def _release(sqs: Any, url: str, messages: Iterable[dict[str, Any]]) -> None:
    """Make received messages visible again now."""
    batch: list[dict[str, Any]] = []
    for msg in messages:
        batch.append({"Id": str(len(batch)), "ReceiptHandle": msg["ReceiptHandle"],
                      "VisibilityTimeout": 0})
        if len(batch) == 10:
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=batch)
            batch = []
    if batch:
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=batch)


def _iso_millis(value: str | None) -> str | None:
    if not value or not value.isdigit():
        return None
    return datetime.fromtimestamp(int(value) / 1000, UTC).isoformat()


# --- inspect -----------------------------------------------------------------------------------


def inspect_dlq(
    sqs: Any,
    dlq_url: str,
    *,
    s3: Any = None,
    logs: Any = None,
    log_group: str | None = None,
    layout: KeyLayout = DEFAULT_LAYOUT,
    bucket_name: str | None = None,
    max_messages: int = 100,
    visibility_timeout: int = 30,
    wait_seconds: int = 1,
) -> list[DlqMessage]:
    """Peek at up to ``max_messages`` DLQ messages and explain each; leaves them in the DLQ."""
    received: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        while len(received) < max_messages:
            batch = _receive(sqs, dlq_url, max_messages - len(received), visibility_timeout,
                             wait_seconds)
            fresh = [m for m in batch if m["MessageId"] not in seen]
            if not fresh:
                break
            for msg in fresh:
                seen.add(msg["MessageId"])
                received.append(msg)
    finally:
        _release(sqs, dlq_url, received)
    errors = _ErrorLog(logs, log_group) if logs is not None and log_group else None
    return [
        _explain(msg, s3=s3, errors=errors, layout=layout, bucket_name=bucket_name)
        for msg in received
    ]


def _explain(
    msg: dict[str, Any],
    *,
    s3: Any,
    errors: _ErrorLog | None,
    layout: KeyLayout,
    bucket_name: str | None,
) -> DlqMessage:
    attrs = msg.get("Attributes") or {}
    body = msg.get("Body", "")
    count = attrs.get("ApproximateReceiveCount")
    out = DlqMessage(
        message_id=msg["MessageId"],
        receive_count=int(count) if isinstance(count, str) and count.isdigit() else None,
        sent_at=_iso_millis(attrs.get("SentTimestamp")),
        source_queue_arn=attrs.get("DeadLetterQueueSourceArn"),
        body_excerpt=body if len(body) <= 300 else body[:300] + "...",
    )
    try:
        parsed = parse_message({"messageId": msg["MessageId"], "body": body})
    except MalformedRecordError as exc:
        out.problem = f"malformed message: {exc}"
        return out
    if parsed.test_event:
        out.problem = "s3:TestEvent (harmless; delete it)"
        return out
    if parsed.errors:
        out.problem = "malformed S3 records: " + "; ".join(parsed.errors)
    if errors is not None:
        out.last_error = errors.last_for(msg["MessageId"])
    for event in parsed.events:
        ref = event.ref
        reason = skip_reason(event, input_prefix=layout.input_prefix, bucket_name=bucket_name)
        if reason is not None:
            state = f"skipped:{reason}"
        elif s3 is None:
            state = "unknown"
        else:
            state = _where(s3, ref.bucket, ref.key, layout)
        last = errors.last_for(ref.key) if errors is not None and reason is None else None
        out.objects.append(DlqObject(ref.bucket, ref.key, event.event_name, state, last))
    return out


def _where(s3: Any, bucket: str, key: str, layout: KeyLayout) -> str:
    if _exists(s3, bucket, key):
        return "pending"
    for verdict, destination, _record in layout.destinations(key):
        if _exists(s3, bucket, destination):
            return f"done:{verdict}"
    return "missing"


def _exists(s3: Any, bucket: str, key: str) -> bool:
    return head_object_or_none(s3, bucket, key) is not None


class _ErrorLog:
    """The analyzer's ERROR log lines (Powertools JSON) in a CloudWatch Logs group."""

    def __init__(self, logs: Any, log_group: str, max_pages: int = 5) -> None:
        self.logs = logs
        self.log_group = log_group
        self.max_pages = max_pages

    def last_for(self, term: str) -> str | None:
        """The newest ERROR line that mentions ``term`` (an object key or a message id)."""
        pattern = '"' + term.replace('"', '\\"') + '"'
        kwargs: dict[str, Any] = {"logGroupName": self.log_group, "filterPattern": pattern}
        best: tuple[int, str] | None = None
        for _ in range(self.max_pages):
            try:
                resp = self.logs.filter_log_events(**kwargs)
            except ClientError as exc:
                return f"(log lookup failed: {exc.response.get('Error', {}).get('Code')})"
            for event in resp.get("events") or []:
                text = _error_text(event.get("message", ""), term)
                if text is not None and (best is None or event.get("timestamp", 0) >= best[0]):
                    best = (int(event.get("timestamp", 0)), text)
            token = resp.get("nextToken")
            if not token:
                break
            kwargs["nextToken"] = token
        return best[1] if best else None


def _error_text(message: str, term: str) -> str | None:
    try:
        line = json.loads(message)
    except json.JSONDecodeError:
        return message.strip()[:300] if "ERROR" in message and term in message else None
    if not isinstance(line, dict) or str(line.get("level", "")).upper() != "ERROR":
        return None
    kind = line.get("error_type") or line.get("exception_name") or ""
    detail = line.get("error") or ""
    if not detail and isinstance(line.get("exception"), str):
        lines = [ln for ln in line["exception"].strip().splitlines() if ln.strip()]
        detail = lines[-1] if lines else ""
    text = ": ".join(p for p in (str(kind), str(detail)) if p) or str(line.get("message", ""))
    return text[:300]


# --- redrive -----------------------------------------------------------------------------------


def redrive(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    *,
    strategy: Strategy = "auto",
    max_messages: int | None = None,
    max_per_second: int | None = None,
    dry_run: bool = False,
    visibility_timeout: int = 60,
    wait_seconds: int = 1,
) -> RedriveResult:
    """Move DLQ messages back to ``queue_url``.

    ``auto`` tries the native message-move task and falls back to the copy loop when the endpoint
    does not implement it; a limit (``max_messages``) always uses the copy loop, since a move task
    moves everything.
    """
    available = approximate_count(sqs, dlq_url)
    if dry_run:
        return RedriveResult("dry-run", available)
    if strategy == "native" and max_messages is not None:
        raise RedriveError("the native move task cannot limit the number of messages; use --strategy copy")
    if strategy in ("auto", "native") and max_messages is None:
        handle = _start_move_task(sqs, dlq_url, queue_url, max_per_second)
        if handle is not None:
            return RedriveResult("native", available, task_handle=handle)
        if strategy == "native":
            raise RedriveError("this SQS endpoint has no message-move task; use --strategy copy")
    return _copy_loop(sqs, dlq_url, queue_url, available, max_messages, visibility_timeout,
                      wait_seconds)


def _start_move_task(
    sqs: Any, dlq_url: str, queue_url: str, max_per_second: int | None
) -> str | None:
    """Start the native move task; None if the endpoint does not implement it."""
    kwargs: dict[str, Any] = {
        "SourceArn": queue_arn(sqs, dlq_url),
        "DestinationArn": queue_arn(sqs, queue_url),
    }
    if max_per_second is not None:
        kwargs["MaxNumberOfMessagesPerSecond"] = max_per_second
    try:
        resp = sqs.start_message_move_task(**kwargs)
    except (NotImplementedError, AttributeError):  # moto; a botocore without the operation
        return None
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in _UNSUPPORTED_CODES:
            return None
        raise RedriveError(f"StartMessageMoveTask failed: {exc}") from exc
    return str(resp.get("TaskHandle", ""))


def _copy_loop(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    available: int,
    max_messages: int | None,
    visibility_timeout: int,
    wait_seconds: int,
) -> RedriveResult:
    result = RedriveResult("copy", available)
    seen: set[str] = set()
    while max_messages is None or result.moved + result.failed < max_messages:
        room = 10 if max_messages is None else max_messages - result.moved - result.failed
        batch = _receive(sqs, dlq_url, room, visibility_timeout, wait_seconds)
        batch = [m for m in batch if m["MessageId"] not in seen]
        if not batch:
            break
        seen.update(m["MessageId"] for m in batch)
        entries = [
            {"Id": str(i), "MessageBody": m["Body"],
             **({"MessageAttributes": attrs} if (attrs := _attributes(m)) else {})}
            for i, m in enumerate(batch)
        ]
        try:
            sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except ClientError as exc:
            _release(sqs, dlq_url, batch)
            raise RedriveError(
                f"sending to the source queue failed after {result.moved} moved: {exc}"
            ) from exc
        ok = {s["Id"] for s in sent.get("Successful") or []}
        # Refused messages stay in the DLQ, invisible until their visibility timeout ends, so
        # this loop moves on to the others instead of receiving them again.
        result.failed += len(batch) - len(ok)
        to_delete = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(batch) if str(i) in ok
        ]
        if to_delete:
            deleted = sqs.delete_message_batch(QueueUrl=dlq_url, Entries=to_delete)
            result.not_deleted += len(deleted.get("Failed") or [])
        result.moved += len(to_delete)
    return result


def _attributes(msg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in (msg.get("MessageAttributes") or {}).items():
        kept = {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        if kept.get("DataType"):
            out[name] = kept
    return out
