"""Re-uploads of the same key: each upload is its own image, whatever the idempotency key says."""

from __future__ import annotations

import json

import pytest

from tests.support.fakes import FakeContext
from tests.support.faults import FaultPlan
from tests.support.images import picture
from tests.support.world import INPUT, MotoStack

pytestmark = pytest.mark.usefixtures("aws")


def deliver(stack: MotoStack, plan: FaultPlan, sequencer: str) -> dict[str, object]:
    """Take the queued S3 event, stamp it with ``sequencer`` as real S3 does, and handle it."""
    msgs = stack.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10)["Messages"]
    body = next(json.loads(m["Body"]) for m in msgs if "Records" in m["Body"])
    for m in msgs:
        stack.sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=m["ReceiptHandle"])
    body["Records"][0]["s3"]["object"]["sequencer"] = sequencer
    record = {"messageId": f"m-{sequencer}", "receiptHandle": "r", "body": json.dumps(body),
              "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs"}
    return stack.analyzer(plan=plan).handle({"Records": [record]}, FakeContext(remaining_ms=0))


def test_reupload_of_different_bytes_is_analysed_again() -> None:
    # GIVEN an analysed image
    stack = MotoStack(versioned=False)
    plan = FaultPlan()
    stack.upload("again/cat.jpg", picture(96, 96))
    assert deliver(stack, plan, "0001") == {"batchItemFailures": []}

    # WHEN other bytes are uploaded under the same key
    stack.upload("again/cat.jpg", picture(120, 120))
    assert deliver(stack, plan, "0002") == {"batchItemFailures": []}

    # THEN the new upload was analysed too (new ETag: a new idempotency key)
    assert stack.keys(INPUT) == set()
    assert len(plan.published) == 2


def test_reupload_of_identical_bytes_is_not_left_behind() -> None:
    # GIVEN an analysed image in an unversioned bucket
    stack = MotoStack(versioned=False)
    plan = FaultPlan()
    data = picture()
    stack.upload("again/cat.jpg", data)
    assert deliver(stack, plan, "0001") == {"batchItemFailures": []}

    # WHEN the same bytes are uploaded again under the same key (a new S3 event, new sequencer)
    stack.upload("again/cat.jpg", data)
    deliver(stack, plan, "0002")

    # THEN the new upload is not answered as a duplicate and stranded under images/ (the identity
    # is the sequencer before the ETag; moto's events carry neither version id nor sequencer)
    assert stack.keys(INPUT) == set()
    assert len(plan.published) == 2
