"""The reviewer policy the stack exports (``reviewer_policy_arn``), proven in moto with IAM
enforcement on: a reviewer holding exactly that policy lists, shows, approves and rejects, and the
decisions are announced — and cannot upload, read unrelated objects, delete decided images or
decisions, forge review records, or publish elsewhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.authorization import enable_iam_authentication

from imgpipe.review import ReviewService
from infra.mockrun import ProgramRun
from tests.infra.conftest import program_run
from tests.support.deployed import SAMPLE_JPEG, apply_everything
from tests.support.deployed import DeployedWorld as World


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[World, Any, Any, ProgramRun]]:
    from moto.sns.responses import SNSResponse

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    # moto checks SNS calls against "*" unless told the request's topic ARN
    monkeypatch.setattr(SNSResponse, "_determine_resource",
                        lambda self: str(self._get_param("TopicArn") or "*"), raising=False)
    run = program_run("dev")
    with mock_aws():
        admin = boto3.Session(region_name="eu-west-1")
        w = apply_everything(run, admin)
        iam = admin.client("iam")
        iam.create_user(UserName="qc-reviewer")
        iam.put_user_policy(UserName="qc-reviewer", PolicyName="reviewer",
                            PolicyDocument=run.one("aws:iam/policy:Policy").inputs["policy"])
        key = iam.create_access_key(UserName="qc-reviewer")["AccessKey"]
        user = boto3.Session(aws_access_key_id=key["AccessKeyId"],
                             aws_secret_access_key=key["SecretAccessKey"], region_name=w.region)
        yield w, admin, user, run


def _seed(s3: Any, bucket: str, rel: str) -> None:
    s3.put_object(Bucket=bucket, Key=f"analyzed/review/{rel}", Body=SAMPLE_JPEG.read_bytes(),
                  Tagging="verdict=review&categories=people")
    s3.put_object(Bucket=bucket, Key=f"results/review/{rel}.json", Body=json.dumps({
        "schema": "imgpipe.result/1", "status": "routed", "bucket": bucket,
        "source_key": f"images/{rel}", "destination_key": f"analyzed/review/{rel}",
        "record_key": f"results/review/{rel}.json", "verdict": "review", "etag": "abc123",
        "categories": ["people"], "matches": [{"rule": "people", "type": "label_match",
                                                "outcome": "review", "evidence": []}],
    }).encode())


def _denied(call: Any) -> bool:
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"] in {"AccessDenied", "AuthorizationError", "403"}
    return False


def test_reviewer_policy_is_sufficient_and_tight(
    world: tuple[World, Any, Any, ProgramRun],
) -> None:
    w, admin, user, _ = world
    admin_s3 = admin.client("s3")
    for rel in ("cams/a.jpg", "cams/b.jpg"):
        _seed(admin_s3, w.bucket, rel)
    admin_s3.put_object(Bucket=w.bucket, Key="other/secret.txt", Body=b"not yours")
    sink = admin.client("sqs").create_queue(QueueName="decisions")["QueueUrl"]
    sink_arn = admin.client("sqs").get_queue_attributes(
        QueueUrl=sink, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    admin.client("sns").subscribe(TopicArn=w.topic_arn, Protocol="sqs", Endpoint=sink_arn)
    other_topic = admin.client("sns").create_topic(Name="someone-elses")["TopicArn"]

    with enable_iam_authentication():
        # WHEN a reviewer with exactly the stack's reviewer policy works through the queue
        review = ReviewService(user.client("s3"), w.bucket, sts=user.client("sts"),
                               sns=user.client("sns"), topic_arn=w.topic_arn, stack="dev")
        assert [i.rel for i in review.queue()] == ["cams/a.jpg", "cams/b.jpg"]
        assert review.show("cams/a.jpg")["status"] == "pending"
        assert review.image_url("analyzed/review/cams/a.jpg").startswith("https://")
        approved = review.decide("cams/a.jpg", "approve", "fine")
        rejected = review.decide("cams/b.jpg", "reject", "blurred")
        # THEN both decisions are complete and announced
        assert approved.status == rejected.status == "decided"
        assert approved.announced and rejected.announced
        assert review.queue() == []
        assert review.show("cams/a.jpg")["status"] == "decided"

        # AND nothing beyond the policy is possible
        s3 = user.client("s3")
        assert _denied(lambda: s3.put_object(Bucket=w.bucket, Key="images/x.jpg", Body=b"x"))
        assert _denied(lambda: s3.get_object(Bucket=w.bucket, Key="other/secret.txt"))
        assert _denied(lambda: s3.delete_object(Bucket=w.bucket, Key="analyzed/success/cams/a.jpg"))
        decision_key = approved.decision["decision_key"]
        assert _denied(lambda: s3.delete_object(Bucket=w.bucket, Key=decision_key))
        assert _denied(lambda: s3.put_object(Bucket=w.bucket, Key="results/review/forged.jpg.json",
                                             Body=b"{}"))
        assert _denied(lambda: s3.put_object(Bucket=w.bucket, Key="analyzed/review/x.jpg",
                                             Body=b"x"))
        assert _denied(lambda: user.client("sns").publish(TopicArn=other_topic, Message="hi"))
        assert _denied(lambda: user.client("iam").list_users())

    keys = {o["Key"] for o in admin_s3.list_objects_v2(Bucket=w.bucket)["Contents"]}
    assert {"analyzed/success/cams/a.jpg", "analyzed/failure/cams/b.jpg"} <= keys
    assert not any(k.startswith(("analyzed/review/", "results/review/")) for k in keys)
    got = admin.client("sqs").receive_message(QueueUrl=sink, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["MessageAttributes"]["decision"]["Value"]
                  for m in got) == ["approve", "reject"]
