"""The resources the Pulumi program declares, recreated in moto under the SAME names and ARNs the
mocks produced (account 123456789012, the stack's region), so the program's own policy documents
and settings apply verbatim. Use inside the ``aws`` fixture of :mod:`tests.support.world`; the
SQS event for the handler is :func:`tests.support.emulator.sqs_event`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from infra.mockrun import ProgramRun
from tests.support.paths import SAMPLE_JPEG

__all__ = ["SAMPLE_JPEG", "DeployedWorld", "apply_everything", "apply_queueing", "describe",
           "is_test_event", "receive"]


@dataclass
class DeployedWorld:
    region: str
    bucket: str
    bucket_arn: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    topic_arn: str
    table: str
    env: dict[str, str]
    policy: str


def describe(run: ProgramRun) -> DeployedWorld:
    bucket = run.named(f"imgpipe-{run.stack}-storage-bucket").outputs
    queue = run.named(f"imgpipe-{run.stack}-queueing-queue").outputs
    dlq = run.named(f"imgpipe-{run.stack}-queueing-dlq").outputs
    fn = run.one("aws:lambda/function:Function").inputs
    return DeployedWorld(
        region=queue["arn"].split(":")[3],
        bucket=bucket["bucket"],
        bucket_arn=bucket["arn"],
        queue_url=queue["url"],
        queue_arn=queue["arn"],
        dlq_url=dlq["url"],
        dlq_arn=dlq["arn"],
        topic_arn=run.named(f"imgpipe-{run.stack}-notification-topic").outputs["arn"],
        table=run.one("aws:dynamodb/table:Table").outputs["name"],
        env=dict(fn["environment"]["variables"]),
        policy=run.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"],
    )


def create_bucket(s3: Any, name: str, region: str) -> None:
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})


def apply_queueing(run: ProgramRun, session: boto3.Session) -> DeployedWorld:
    """Bucket, queue, DLQ, redrive, queue policy and THE bucket notification, as declared."""
    w = describe(run)
    s3, sqs = session.client("s3"), session.client("sqs")
    create_bucket(s3, w.bucket, w.region)
    dlq_inputs = run.named(f"imgpipe-{run.stack}-queueing-dlq").inputs
    queue_inputs = run.named(f"imgpipe-{run.stack}-queueing-queue").inputs
    sqs.create_queue(
        QueueName=w.dlq_arn.rsplit(":", 1)[1],
        Attributes={"MessageRetentionPeriod": str(int(dlq_inputs["messageRetentionSeconds"]))},
    )
    sqs.create_queue(
        QueueName=w.queue_arn.rsplit(":", 1)[1],
        Attributes={
            "VisibilityTimeout": str(int(queue_inputs["visibilityTimeoutSeconds"])),
            "MessageRetentionPeriod": str(int(queue_inputs["messageRetentionSeconds"])),
            "RedrivePolicy": queue_inputs["redrivePolicy"],
        },
    )
    policy = run.one("aws:sqs/queuePolicy:QueuePolicy").inputs["policy"]
    sqs.set_queue_attributes(QueueUrl=w.queue_url, Attributes={"Policy": policy})
    notification = run.one("aws:s3/bucketNotification:BucketNotification").inputs
    s3.put_bucket_notification_configuration(
        Bucket=notification["bucket"],
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": q["id"],
                    "QueueArn": q["queueArn"],
                    "Events": q["events"],
                    "Filter": {"Key": {"FilterRules": [
                        {"Name": "prefix", "Value": q["filterPrefix"]}
                    ]}},
                }
                for q in notification["queues"]
            ]
        },
    )
    return w


def apply_everything(run: ProgramRun, session: boto3.Session) -> DeployedWorld:
    """Queueing plus the topic and the idempotency table."""
    w = apply_queueing(run, session)
    session.client("sns").create_topic(Name=w.topic_arn.rsplit(":", 1)[1])
    table = run.one("aws:dynamodb/table:Table").inputs
    session.client("dynamodb").create_table(
        TableName=w.table,
        KeySchema=[{"AttributeName": table["hashKey"], "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": a["name"], "AttributeType": a["type"]} for a in table["attributes"]
        ],
        BillingMode=table["billingMode"],
    )
    return w


def receive(sqs: Any, queue_url: str, rounds: int = 5) -> list[dict[str, Any]]:
    """Receive what is there (bounded), without deleting."""
    got: list[dict[str, Any]] = []
    for _ in range(rounds):
        resp = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"],
            VisibilityTimeout=30,
        )
        messages = resp.get("Messages", [])
        if not messages:
            break
        got += messages
    return got


def is_test_event(message: dict[str, Any]) -> bool:
    return json.loads(message["Body"]).get("Event") == "s3:TestEvent"
