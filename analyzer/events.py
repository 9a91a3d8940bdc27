"""Parsing SQS records whose bodies are S3 event notifications.

One body may hold several ``Records``; ``s3:TestEvent`` bodies hold none and are acknowledged.
Keys arrive URL-encoded (``+`` for a space, ``%2F`` from some emitters) and are decoded with
``unquote_plus``. A body wrapped in an SNS envelope (S3 -> SNS -> SQS fan-out) is unwrapped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from analyzer.errors import MalformedRecordError
from analyzer.ports import ObjectRef


@dataclass(frozen=True, slots=True)
class S3Event:
    """One S3 event record, decoded."""

    event_name: str
    ref: ObjectRef


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """One SQS message: its id and the S3 events it carries (none for a TestEvent)."""

    message_id: str
    events: tuple[S3Event, ...]
    test_event: bool = False
    errors: tuple[str, ...] = ()  # records of the body that could not be parsed


def parse_message(record: dict[str, Any]) -> ParsedMessage:
    """Parse one SQS record; raise MalformedRecordError if it is not an S3 notification."""
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise MalformedRecordError("SQS record without messageId")
    body = record.get("body")
    if not isinstance(body, str):
        raise MalformedRecordError("SQS record without a string body")
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedRecordError(f"body is not JSON: {exc.msg} at char {exc.pos}") from exc
    payload = _unwrap_sns(payload)
    if not isinstance(payload, dict):
        raise MalformedRecordError("body is not a JSON object")
    if payload.get("Event") == "s3:TestEvent":
        return ParsedMessage(message_id, (), test_event=True)
    records = payload.get("Records")
    if not isinstance(records, list) or not records:
        raise MalformedRecordError("body has no S3 'Records'")
    events: list[S3Event] = []
    errors: list[str] = []
    for index, entry in enumerate(records):
        try:
            events.append(parse_s3_record(entry))
        except MalformedRecordError as exc:
            errors.append(f"Records[{index}]: {exc}")
    return ParsedMessage(message_id, tuple(events), errors=tuple(errors))


def parse_s3_record(record: Any) -> S3Event:
    """Decode one entry of an S3 notification's ``Records``."""
    try:
        s3 = record["s3"]
        raw_key = s3["object"]["key"]
        bucket = s3["bucket"]["name"]
        event_name = record["eventName"]
    except (KeyError, TypeError) as exc:
        raise MalformedRecordError(f"S3 record lacks {exc}") from exc
    if not all(isinstance(v, str) for v in (raw_key, bucket, event_name)):
        raise MalformedRecordError("S3 record has non-string key, bucket or eventName")
    obj = s3["object"]
    size = obj.get("size")
    return S3Event(
        event_name=event_name,
        ref=ObjectRef(
            key=unquote_plus(raw_key),
            bucket=bucket,
            version_id=obj.get("versionId") or None,
            etag=(obj.get("eTag") or "").strip('"') or None,
            sequencer=obj.get("sequencer") or None,
            size=size if isinstance(size, int) else None,
            region=record.get("awsRegion") or None,
            event_time=record.get("eventTime") or None,
        ),
    )


def skip_reason(
    event: S3Event, *, input_prefix: str, bucket_name: str | None = None
) -> str | None:
    """Why this event is not ours to process (None: process it)."""
    if not event.event_name.startswith("ObjectCreated:"):
        return "not_object_created"
    if bucket_name and event.ref.bucket != bucket_name:
        return "other_bucket"
    key = event.ref.key
    if not key.startswith(input_prefix):
        return "outside_input_prefix"
    if key.endswith("/"):
        return "folder_marker"
    return None


def _unwrap_sns(payload: Any) -> Any:
    if (
        isinstance(payload, dict)
        and payload.get("Type") == "Notification"
        and isinstance(payload.get("Message"), str)
    ):
        try:
            return json.loads(payload["Message"])
        except json.JSONDecodeError as exc:
            raise MalformedRecordError(f"SNS envelope Message is not JSON: {exc.msg}") from exc
    return payload
