"""Parsing SQS records of S3 notifications (real payload shapes from tests/events/analyzer/)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from analyzer.errors import MalformedRecordError
from analyzer.events import S3Event, parse_message, parse_s3_record, skip_reason
from analyzer.ports import ObjectRef

FIXTURES = Path(__file__).resolve().parents[2] / "events" / "analyzer"


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def sqs_record() -> Callable[[Any], dict[str, Any]]:
    def make(body: Any, message_id: str = "m-1") -> dict[str, Any]:
        record = copy.deepcopy(_load("sqs_message_template.json"))
        record["messageId"] = message_id
        record["body"] = body if isinstance(body, str) else json.dumps(body)
        return record

    return make


def test_put_notification_key_is_decoded(sqs_record: Callable[..., dict[str, Any]]) -> None:
    # GIVEN a real S3 put notification whose key has '+' for spaces, %2B for '+' and UTF-8
    message = parse_message(sqs_record(_load("s3_put_notification.json")))
    # THEN the key is unquote_plus-decoded and the object identity is kept
    assert not message.test_event and not message.errors
    (event,) = message.events
    assert event.event_name == "ObjectCreated:Put"
    assert event.ref == ObjectRef(
        key="images/trail cams/north+ridge/IMG 0042 été.jpg",
        bucket="imgpipe-dev-images",
        version_id="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        etag="0e1a0c8c4f0c3b1e6f0a9b2c3d4e5f60",
        sequencer="0065F1A2B3C4D5E6F7",
        size=27255,
        region="eu-west-1",
        event_time="2026-11-29T07:40:12.345Z",
    )
    assert event.ref.identity == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"


def test_moto_style_encoded_slashes_are_decoded() -> None:
    record = _load("s3_put_notification.json")["Records"][0]
    record["s3"]["object"]["key"] = "images%2Fmy+cat%2Bdog.jpg"
    assert parse_s3_record(record).ref.key == "images/my cat+dog.jpg"


def test_one_body_with_two_records(sqs_record: Callable[..., dict[str, Any]]) -> None:
    message = parse_message(sqs_record(_load("s3_two_records_notification.json")))
    assert [e.ref.key for e in message.events] == ["images/a/cat.jpg", "images/b/rocket.jpg"]
    # no version id: the identity falls back to the event's sequencer, then the ETag
    assert message.events[0].ref.identity == "0065F1A2B3C4D5E700"
    assert replace(message.events[0].ref, sequencer=None).identity.endswith("-2")


def test_test_event_is_recognised(sqs_record: Callable[..., dict[str, Any]]) -> None:
    message = parse_message(sqs_record(_load("s3_test_event.json")))
    assert message.test_event and message.events == ()


def test_sns_envelope_is_unwrapped(sqs_record: Callable[..., dict[str, Any]]) -> None:
    envelope = {
        "Type": "Notification",
        "MessageId": "4f0b3d2a-0000-4000-8000-000000000001",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:uploads",
        "Message": json.dumps(_load("s3_put_notification.json")),
    }
    (event,) = parse_message(sqs_record(envelope)).events
    assert event.ref.key.endswith("été.jpg")


@pytest.mark.parametrize(
    "body",
    ["not json at all", "[1, 2]", json.dumps({"Records": []}), json.dumps({"foo": 1}), "null"],
)
def test_malformed_bodies(sqs_record: Callable[..., dict[str, Any]], body: str) -> None:
    with pytest.raises(MalformedRecordError):
        parse_message(sqs_record(body))


def test_record_without_message_id_is_malformed(sqs_record: Callable[..., dict[str, Any]]) -> None:
    record = sqs_record(_load("s3_put_notification.json"))
    del record["messageId"]
    with pytest.raises(MalformedRecordError):
        parse_message(record)


def test_one_broken_record_is_reported_and_the_others_kept(
    sqs_record: Callable[..., dict[str, Any]],
) -> None:
    body = _load("s3_two_records_notification.json")
    del body["Records"][1]["s3"]["object"]["key"]
    message = parse_message(sqs_record(body))
    assert [e.ref.key for e in message.events] == ["images/a/cat.jpg"]
    assert len(message.errors) == 1 and message.errors[0].startswith("Records[1]")


def _event(key: str, bucket: str = "imgpipe-dev-images", name: str = "ObjectCreated:Put") -> S3Event:
    return S3Event(name, ObjectRef(key=key, bucket=bucket))


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (_event("images/a.jpg"), None),
        (_event("images/deep/er/a b.jpg"), None),
        (_event("images/"), "folder_marker"),
        (_event("images/sub/"), "folder_marker"),
        (_event("analyzed/success/a.jpg"), "outside_input_prefix"),
        (_event("imagesX/a.jpg"), "outside_input_prefix"),
        (_event("images/a.jpg", bucket="someone-else"), "other_bucket"),
        (_event("images/a.jpg", name="ObjectRemoved:Delete"), "not_object_created"),
    ],
)
def test_skip_reasons(event: S3Event, reason: str | None) -> None:
    assert skip_reason(event, input_prefix="images/", bucket_name="imgpipe-dev-images") == reason


@pytest.mark.parametrize(
    "name",
    ["ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy",
     "ObjectCreated:CompleteMultipartUpload"],
)
def test_every_object_created_event_is_processed(name: str) -> None:
    assert skip_reason(_event("images/a.jpg", name=name), input_prefix="images/") is None


def test_any_bucket_when_unconfigured() -> None:
    assert skip_reason(_event("images/a.jpg", bucket="x"), input_prefix="images/") is None
