"""THE moto world: the fixtures every AWS test uses, and the stack's resources in moto.

Fixtures (registered for all tests through ``pytest_plugins`` in ``tests/conftest.py``):

- ``aws_credentials`` — fake credentials and region, Powertools kept quiet;
- ``aws`` — the above plus an active in-process ``mock_aws`` for every service;
- ``world`` — a :class:`MotoStack` for the analyzer's flows: unversioned bucket notifying the
  queue, the verdict topic with an SQS inbox subscribed, an idempotency table (off until
  :meth:`MotoStack.idempotency_env` is passed), the rules file :data:`~tests.support.fakes.RULES`.

:class:`MotoStack` builds what the Pulumi stack deploys (bucket with S3 -> SQS notifications on
``images/``, queue with a DLQ after ``maxReceiveCount`` receives, SNS topic, idempotency table)
inside an active ``mock_aws``; :meth:`MotoStack.drain` plays the event source mapping
(:mod:`tests.support.emulator`) and :meth:`MotoStack.check` checks the invariant
(:mod:`tests.support.invariants`).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from analyzer.app import Analyzer
from analyzer.config import Settings
from analyzer.errors import MalformedRecordError
from analyzer.events import parse_message
from analyzer.layout import DEFAULT_LAYOUT
from analyzer.ports import Detector
from analyzer.rekognition import RekognitionDetector
from rules import Ruleset
from tests.support import emulator, invariants
from tests.support.fakes import REGION, RULES, FakeDetector, FakeRekognition, reliability_ruleset
from tests.support.faults import FaultPlan, FaultyClient, FaultySession, aws_client

INPUT = DEFAULT_LAYOUT.input_prefix
MAX_RECEIVE_COUNT = 3

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_METRICS_NAMESPACE": "imgpipe-test",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region: nothing can reach a real account."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[None]:
    """An in-process moto for every AWS service, with fake credentials."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def world(aws: None, tmp_path: Path) -> MotoStack:
    """The analyzer's moto world (see the module docstring)."""
    return MotoStack(idempotency=False, table=True, versioned=False, inbox=True,
                     max_receive_count=None, rules_file=tmp_path / "rules.yaml")


class MotoStack:
    """The stack's resources in moto (create inside an active ``mock_aws``).

    ``idempotency``: the analyzer runs with the table (``table`` defaults to the same);
    ``max_receive_count``: the source queue's redrive to the DLQ (None: no redrive, no DLQ);
    ``inbox``: an SQS queue subscribed to the topic (:meth:`notifications`);
    ``rules_file``: the analyzer loads its rules from this file (written with :data:`RULES`),
    otherwise it is handed ``rules`` (default: the reliability rules).
    """

    def __init__(
        self,
        *,
        idempotency: bool = True,
        table: bool | None = None,
        max_receive_count: int | None = MAX_RECEIVE_COUNT,
        versioned: bool = True,
        inbox: bool = False,
        rules: Ruleset | None = None,
        rules_file: Path | None = None,
    ) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.bucket = f"imgpipe-test-{suffix}"
        self.session = boto3.session.Session(region_name=REGION)
        self.s3 = aws_client("s3")
        self.sqs = aws_client("sqs")
        self.sns = aws_client("sns")
        self.ddb = aws_client("dynamodb")
        self.idempotency = idempotency
        self.rules = rules or reliability_ruleset()
        self.rules_path = rules_file
        if rules_file is not None:
            rules_file.write_text(RULES)
        attributes: dict[str, str] = {}
        self.dlq_url = ""
        if max_receive_count is not None:
            self.dlq_url = self.sqs.create_queue(QueueName=f"imgpipe-dlq-{suffix}")["QueueUrl"]
            attributes = {
                "VisibilityTimeout": "360",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": self.queue_arn(self.dlq_url),
                                             "maxReceiveCount": str(max_receive_count)}),
            }
        self.queue_url = self.sqs.create_queue(
            QueueName=f"imgpipe-queue-{suffix}", Attributes=attributes
        )["QueueUrl"]
        self.queue_arn_value = self.queue_arn(self.queue_url)
        self.s3.create_bucket(Bucket=self.bucket,
                              CreateBucketConfiguration={"LocationConstraint": REGION})
        if versioned:
            self.s3.put_bucket_versioning(Bucket=self.bucket,
                                          VersioningConfiguration={"Status": "Enabled"})
        self.s3.put_bucket_notification_configuration(
            Bucket=self.bucket,
            NotificationConfiguration={"QueueConfigurations": [{
                "QueueArn": self.queue_arn_value,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": INPUT}]}},
            }]},
        )
        self.topic_arn = self.sns.create_topic(Name=f"imgpipe-topic-{suffix}")["TopicArn"]
        self.inbox_url = ""
        if inbox:
            self.inbox_url = self.sqs.create_queue(QueueName=f"imgpipe-inbox-{suffix}")["QueueUrl"]
            self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs",
                               Endpoint=self.queue_arn(self.inbox_url))
        self.table: str | None = None
        if idempotency if table is None else table:
            self.table = f"imgpipe-idem-{suffix}"
            self.ddb.create_table(
                TableName=self.table,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        self.uploaded: dict[str, bytes] = {}
        # SQS calls are atomic in AWS; in-process moto is not thread-safe, so the emulated event
        # source mapping serialises its own SQS calls (the handler invocations stay concurrent).
        self.sqs_lock = threading.Lock()

    def queue_arn(self, url: str) -> str:
        return str(self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    # -- the analyzer under test ------------------------------------------------------------

    def settings(self, **overrides: str) -> Settings:
        env = {
            "RULES_PATH": str(self.rules_path or "reliability.yaml"),
            "TOPIC_ARN": self.topic_arn,
            "BUCKET_NAME": self.bucket,
        }
        if self.rules_path is None:
            env["MAX_WORKERS"] = "4"
        if self.table and self.idempotency:
            env["IDEMPOTENCY_TABLE"] = self.table
        env.update(overrides)
        return Settings.from_env(env)

    def idempotency_env(self) -> dict[str, str]:
        """Settings overrides that turn idempotency on."""
        assert self.table, "this stack has no idempotency table"
        return {"IDEMPOTENCY_TABLE": self.table}

    def analyzer(
        self,
        detector: Detector | None = None,
        *,
        plan: FaultPlan | None = None,
        decode: bool = False,
        rules: str | None = None,
        **overrides: str,
    ) -> Analyzer:
        """The analyzer on this stack.

        With a ``rules_file`` (the ``world`` fixture): plain moto clients, the rules read from
        the file (``rules`` rewrites it), the fake detector by default. Otherwise: every client
        goes through ``plan``, the real Rekognition adapter over the fake Rekognition client
        (``decode``: it refuses images Pillow cannot decode) by default, and a quiet logger.
        """
        if self.rules_path is not None:
            if rules is not None:
                self.rules_path.write_text(rules)
            return Analyzer.build(self.settings(**overrides), session=self.session,
                                  detector=detector or FakeDetector())
        from aws_lambda_powertools import Logger

        plan = plan or FaultPlan()
        if detector is None:
            fake = FakeRekognition(self.s3 if decode else None)
            detector = RekognitionDetector(FaultyClient(fake, "rekognition", plan))
        return Analyzer.build(
            self.settings(**overrides),
            session=FaultySession(plan),
            detector=detector,
            ruleset=self.rules,
            logger=Logger(service="imgpipe-reliability", level="CRITICAL"),
        )

    # -- uploads ----------------------------------------------------------------------------

    def upload(self, rel: str, data: bytes, content_type: str = "image/jpeg") -> str:
        """Upload ``images/<rel>``; return its key."""
        key = INPUT + rel
        self.put(key, data, ContentType=content_type)
        self.uploaded[key] = data
        return key

    def put(self, key: str, data: bytes, **kwargs: Any) -> None:
        """Put any object (``kwargs``: more PutObject parameters)."""
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, **kwargs)

    # -- the event source mapping -----------------------------------------------------------

    def drain(
        self, handle: Callable[[dict[str, Any], Any], Any], **kwargs: Any
    ) -> emulator.DrainStats:
        """Feed the queue to ``handle`` until it is empty (:func:`tests.support.emulator.drain`)."""
        return emulator.drain(self, handle, **kwargs)

    def receive_event(self) -> dict[str, Any]:
        """All messages now in the queue, as the SQS event Lambda would pass (left in flight)."""
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                             AttributeNames=["All"]).get("Messages", [])
            if not batch:
                return emulator.sqs_event(messages, self.queue_arn_value)
            messages.extend(batch)

    def notifications(self) -> list[dict[str, Any]]:
        """SNS messages received through the inbox subscription: envelopes, ``body`` parsed."""
        found = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.inbox_url,
                                             MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for m in batch:
                envelope = json.loads(m["Body"])
                envelope["body"] = json.loads(envelope["Message"])
                found.append(envelope)
                self.sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=m["ReceiptHandle"])

    # -- what is where ------------------------------------------------------------------------

    def keys(self, prefix: str = "") -> set[str]:
        found: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=prefix):
            found.update(o["Key"] for o in page.get("Contents") or [])
        return found

    def read(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def json(self, key: str) -> dict[str, Any]:
        """The JSON object at ``key`` (a result record)."""
        data: dict[str, Any] = json.loads(self.read(key))
        return data

    def tags(self, key: str) -> dict[str, str]:
        tag_set = self.s3.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
        return {t["Key"]: t["Value"] for t in tag_set}

    def queue_messages(self, url: str) -> list[dict[str, Any]]:
        """Every message of a queue (they are made visible again afterwards)."""
        return emulator.receive_all(self.sqs, url)

    def dlq_keys(self) -> Counter[str]:
        keys: Counter[str] = Counter()
        for msg in self.queue_messages(self.dlq_url):
            try:
                parsed = parse_message({"messageId": msg["MessageId"], "body": msg["Body"]})
            except MalformedRecordError:
                continue
            keys.update(e.ref.key for e in parsed.events)
        return keys

    def record(self, verdict: str, rel: str) -> dict[str, Any] | None:
        """The result record of ``images/<rel>`` under ``verdict``, or None."""
        key = DEFAULT_LAYOUT.record_key(INPUT + rel, verdict)
        try:
            data = json.loads(self.read(key))
        except ClientError:
            return None
        return data if isinstance(data, dict) else None

    def check(self, plan: FaultPlan, *, keys: Iterable[str] | None = None,
              records: bool = True) -> invariants.Tally:
        """The invariant over the whole bucket and both queues (:mod:`tests.support.invariants`)."""
        return invariants.check(self, plan, keys=keys, records=records)
