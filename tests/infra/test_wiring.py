"""Config wiring, proven: the bucket notification, queue, DLQ and redrive settings the program
declares, applied to moto, deliver every upload under images/ exactly once, never what the
function writes, and park a poison message in the DLQ after maxReceiveCount receives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from infra.mockrun import ProgramRun
from tests.infra.conftest import settings_of
from tests.support.deployed import SAMPLE_JPEG, DeployedWorld, apply_queueing, is_test_event
from tests.support.deployed import receive as drain


@pytest.fixture
def deployed(run: ProgramRun, aws: None) -> Iterator[tuple[DeployedWorld, Any, Any]]:
    """The program's queueing resources in moto: (world, s3, sqs)."""
    session = boto3.Session(region_name=run.named(
        f"imgpipe-{run.stack}-queueing-queue").outputs["arn"].split(":")[3])
    world = apply_queueing(run, session)
    yield world, session.client("s3"), session.client("sqs")


def _keys(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found = []
    for m in messages:
        if is_test_event(m):
            continue
        for record in json.loads(m["Body"])["Records"]:
            found.append((record["eventName"], unquote_plus(record["s3"]["object"]["key"])))
    return sorted(found)


def test_uploads_under_images_arrive_once_and_outputs_never(
    deployed: tuple[DeployedWorld, Any, Any],
) -> None:
    w, s3, sqs = deployed
    body = SAMPLE_JPEG.read_bytes()
    # WHEN an image is uploaded under images/, and the function's kind of writes happen
    s3.put_object(Bucket=w.bucket, Key="images/cam 1/cat.jpg", Body=body)
    s3.put_object(Bucket=w.bucket, Key="analyzed/success/cam 1/cat.jpg", Body=body)
    s3.put_object(Bucket=w.bucket, Key="results/success/cam 1/cat.jpg.json", Body=b"{}")
    # THEN exactly one message arrives, for the upload (no recursion)
    assert _keys(drain(sqs, w.queue_url)) == [("ObjectCreated:Put", "images/cam 1/cat.jpg")]


def test_every_kind_of_object_creation_is_delivered(deployed: tuple[DeployedWorld, Any, Any]) -> None:
    w, s3, sqs = deployed
    body = SAMPLE_JPEG.read_bytes()
    s3.put_object(Bucket=w.bucket, Key="staging/a.jpg", Body=body)
    # WHEN objects are created under images/ by copy and by multipart upload
    s3.copy_object(Bucket=w.bucket, Key="images/copied.jpg",
                   CopySource={"Bucket": w.bucket, "Key": "staging/a.jpg"})
    upload = s3.create_multipart_upload(Bucket=w.bucket, Key="images/multi.jpg")
    part = s3.upload_part(Bucket=w.bucket, Key="images/multi.jpg", PartNumber=1,
                          UploadId=upload["UploadId"], Body=body)
    s3.complete_multipart_upload(
        Bucket=w.bucket, Key="images/multi.jpg", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    # THEN both arrive (the notification is s3:ObjectCreated:*, not only Put); moto also
    # emits a Put for the completed multipart upload, which real S3 does not
    keys = _keys(drain(sqs, w.queue_url))
    assert ("ObjectCreated:Copy", "images/copied.jpg") in keys
    assert ("ObjectCreated:CompleteMultipartUpload", "images/multi.jpg") in keys
    assert {key for _, key in keys} == {"images/copied.jpg", "images/multi.jpg"}


def test_poison_message_reaches_the_dlq_after_max_receive_count(
    run: ProgramRun, deployed: tuple[DeployedWorld, Any, Any]
) -> None:
    w, s3, sqs = deployed
    max_receive = settings_of(run.stack).max_receive_count
    drain(sqs, w.queue_url)  # the s3:TestEvent
    sqs.purge_queue(QueueUrl=w.queue_url)
    s3.put_object(Bucket=w.bucket, Key="images/poison.jpg", Body=b"not an image")
    # WHEN the message is received and never deleted, maxReceiveCount times
    for attempt in range(max_receive):
        got = sqs.receive_message(QueueUrl=w.queue_url, VisibilityTimeout=0)["Messages"]
        assert len(got) == 1, attempt
    # THEN the next receive finds the queue empty and the message is in the DLQ
    assert sqs.receive_message(QueueUrl=w.queue_url, VisibilityTimeout=0).get("Messages") is None
    parked = sqs.receive_message(QueueUrl=w.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert _keys(parked) == [("ObjectCreated:Put", "images/poison.jpg")]


def test_queue_attributes_are_the_declared_ones(
    run: ProgramRun, deployed: tuple[DeployedWorld, Any, Any]
) -> None:
    w, _, sqs = deployed
    s = settings_of(run.stack)
    attrs = sqs.get_queue_attributes(QueueUrl=w.queue_url, AttributeNames=["All"])["Attributes"]
    assert int(attrs["VisibilityTimeout"]) == s.visibility_timeout_seconds
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": w.dlq_arn, "maxReceiveCount": s.max_receive_count,
    }  # fmt: skip
    [stmt] = json.loads(attrs["Policy"])["Statement"]
    assert stmt["Condition"]["ArnEquals"] == {"aws:SourceArn": w.bucket_arn}
