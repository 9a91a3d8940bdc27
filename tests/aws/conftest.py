"""moto world for the analyzer: a bucket notifying a queue, a topic with an SQS subscription,
an idempotency table — and helpers to turn the queue's real messages into a Lambda SQS event.

Rekognition is never moto's (it is canned there): tests inject a fake detector, or the real
adapter over a botocore Stubber.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from analyzer_testkit import RULES, FakeDetector
from moto import mock_aws

from analyzer.app import Analyzer
from analyzer.config import Settings
from analyzer.ports import Detector

REGION = "eu-west-1"


@dataclass
class World:
    """Clients and names of one moto world."""

    tmp: Path
    bucket: str
    queue_url: str
    queue_arn: str
    topic_arn: str
    inbox_url: str  # SQS queue subscribed to the topic
    table: str
    session: Any
    s3: Any
    sqs: Any
    sns: Any
    dynamodb: Any
    rules_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.rules_path = self.tmp / "rules.yaml"
        self.rules_path.write_text(RULES)

    # -- S3 -----------------------------------------------------------------------------------
    def upload(self, key: str, data: bytes, **kwargs: Any) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, **kwargs)

    def keys(self, prefix: str = "") -> list[str]:
        resp = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for o in resp.get("Contents", []))

    def read(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def record(self, key: str) -> dict[str, Any]:
        return json.loads(self.read(key))

    def tags(self, key: str) -> dict[str, str]:
        tag_set = self.s3.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
        return {t["Key"]: t["Value"] for t in tag_set}

    # -- SQS ----------------------------------------------------------------------------------
    def receive_event(self) -> dict[str, Any]:
        """All messages now in the queue, as the SQS event Lambda would pass."""
        records = []
        while True:
            resp = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                            AttributeNames=["All"])
            messages = resp.get("Messages", [])
            if not messages:
                break
            for m in messages:
                records.append(sqs_record(m, self.queue_arn))
        return {"Records": records}

    def notifications(self) -> list[dict[str, Any]]:
        """SNS messages received through the SQS subscription: envelope with parsed body."""
        found = []
        while True:
            resp = self.sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10)
            messages = resp.get("Messages", [])
            if not messages:
                return found
            for m in messages:
                envelope = json.loads(m["Body"])
                envelope["body"] = json.loads(envelope["Message"])
                found.append(envelope)
                self.sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=m["ReceiptHandle"])

    # -- the analyzer -------------------------------------------------------------------------
    def settings(self, **env: str) -> Settings:
        base = {"RULES_PATH": str(self.rules_path), "TOPIC_ARN": self.topic_arn,
                "BUCKET_NAME": self.bucket}
        base.update(env)
        return Settings.from_env(base)

    def analyzer(self, detector: Detector | None = None, rules: str | None = None,
                 **env: str) -> Analyzer:
        if rules is not None:
            self.rules_path.write_text(rules)
        return Analyzer.build(self.settings(**env), session=self.session,
                              detector=detector or FakeDetector())

    def idempotency_env(self) -> dict[str, str]:
        return {"IDEMPOTENCY_TABLE": self.table}


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "imgpipe-test", "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def world(aws_credentials: None, tmp_path: Path) -> Iterator[World]:
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        s3, sqs, sns = session.client("s3"), session.client("sqs"), session.client("sns")
        dynamodb = session.client("dynamodb")
        suffix = uuid.uuid4().hex[:8]
        bucket = f"imgpipe-test-{suffix}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        queue_url = sqs.create_queue(QueueName=f"images-{suffix}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={"QueueConfigurations": [{
                "QueueArn": queue_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "images/"}]}},
            }]},
        )
        topic_arn = sns.create_topic(Name=f"verdicts-{suffix}")["TopicArn"]
        inbox_url = sqs.create_queue(QueueName=f"inbox-{suffix}")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn)
        table = f"idempotency-{suffix}"
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield World(tmp_path, bucket, queue_url, queue_arn, topic_arn, inbox_url, table,
                    session, s3, sqs, sns, dynamodb)
