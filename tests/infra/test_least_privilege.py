"""Least privilege, proven: the function's IAM policy exactly as the program produces it, attached
in moto with IAM enforcement on, runs the real analyzer end to end — and nothing more.

moto checks S3 and SQS calls against the request's resource ARN, but SNS, DynamoDB and Rekognition
calls only against ``"*"``; the ``resource_scoped_moto`` fixture teaches those three the ARN of the
request (for Rekognition: the custom model's project version, else "*") so the policy's resource
scoping is really exercised (otherwise every scoped grant would be denied).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto.core.authorization import enable_iam_authentication

from analyzer.app import Analyzer
from analyzer.config import Settings
from analyzer.rekognition import RekognitionDetector
from infra.artifacts import RULES_IN_PACKAGE
from infra.mockrun import ProgramRun
from rules import load_ruleset, parse_ruleset
from tests.infra.conftest import program_run
from tests.support.deployed import SAMPLE_JPEG, DeployedWorld, apply_everything, is_test_event
from tests.support.deployed import receive as drain
from tests.support.emulator import sqs_event as lambda_event
from tests.support.paths import ROOT

REKOGNITION_FIXTURES = ROOT / "tests" / "events" / "rekognition"
API_FIXTURE = {
    "DetectLabels": ("detect_labels", "detect_labels"),
    "DetectModerationLabels": ("detect_moderation_labels", "detect_moderation_labels"),
    "DetectText": ("detect_text", "detect_text"),
}


@pytest.fixture
def resource_scoped_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.responses import DynamoHandler
    from moto.rekognition.responses import RekognitionResponse
    from moto.sns.responses import SNSResponse

    def sns_resource(self: Any) -> str:
        return str(self._get_param("TopicArn") or "*")

    def rekognition_resource(self: Any) -> str:
        # DetectCustomLabels names its model, DetectModerationLabels its adapter; without one "*"
        return str(self._get_param("ProjectVersionArn") or self._get_param("ProjectVersion") or "*")

    def table_resource(self: Any) -> str:
        name = self._get_param("TableName")
        return f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{name}" if name else "*"

    monkeypatch.setattr(SNSResponse, "_determine_resource", sns_resource, raising=False)
    monkeypatch.setattr(DynamoHandler, "_determine_resource", table_resource, raising=False)
    monkeypatch.setattr(RekognitionResponse, "_determine_resource", rekognition_resource,
                        raising=False)


@pytest.fixture
def stack() -> ProgramRun:
    return program_run("dev")


@pytest.fixture
def deployed(
    stack: ProgramRun, aws: None, resource_scoped_moto: None
) -> tuple[DeployedWorld, boto3.Session, boto3.Session]:
    """moto with the stack's resources; (world, admin session, analyzer-user session)."""
    admin = boto3.Session(region_name="eu-west-1")
    w = apply_everything(stack, admin)
    assert w.region == "eu-west-1"
    iam = admin.client("iam")
    iam.create_user(UserName="imgpipe-analyzer")
    iam.put_user_policy(
        UserName="imgpipe-analyzer", PolicyName="function-policy", PolicyDocument=w.policy
    )
    key = iam.create_access_key(UserName="imgpipe-analyzer")["AccessKey"]
    user = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=w.region,
    )
    return w, admin, user


def _stubbed_detector(session: boto3.Session, apis: list[str]) -> tuple[Any, Stubber]:
    client = session.client("rekognition")
    stub = Stubber(client)
    for api in apis:
        method, folder = API_FIXTURE[api]
        response = json.loads((REKOGNITION_FIXTURES / folder / "cat.json").read_text())
        stub.add_response(method, response)
    stub.activate()
    return RekognitionDetector(client), stub


def _keys(s3: Any, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def _denied(call: Any) -> bool:
    try:
        call()
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        return code in {"AccessDenied", "AuthorizationError", "AccessDeniedException", "403"}
    return False


def _function_env(stack: ProgramRun, w: DeployedWorld, task: Path) -> dict[str, str]:
    """The deployed code zip unpacked into ``task``; the function's environment pointing into it."""
    with zipfile.ZipFile(ROOT / Path(stack.one("aws:lambda/function:Function")
                                         .inputs["code"].path)) as zf:
        zf.extractall(task)
    return dict(w.env, RULES_PATH=str(task / RULES_IN_PACKAGE))


def test_function_policy_is_sufficient_and_tight(
    tmp_path: Path, stack: ProgramRun, deployed: tuple[DeployedWorld, boto3.Session, boto3.Session]
) -> None:
    w, admin, user = deployed
    # GIVEN the deployed code zip unpacked (RULES_PATH points into it) and an upload under images/
    env = _function_env(stack, w, tmp_path)
    admin_s3 = admin.client("s3")
    admin_s3.put_object(Bucket=w.bucket, Key="images/trail/cat 1.jpg", Body=SAMPLE_JPEG.read_bytes())
    admin_s3.put_object(Bucket=w.bucket, Key="other/secret.txt", Body=b"not yours")
    admin.client("sns").create_topic(Name="someone-elses-topic")
    sink = admin.client("sqs").create_queue(QueueName="verdict-sink")["QueueUrl"]
    sink_arn = admin.client("sqs").get_queue_attributes(
        QueueUrl=sink, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    admin.client("sns").subscribe(TopicArn=w.topic_arn, Protocol="sqs", Endpoint=sink_arn)
    settings = Settings.from_env(env)
    apis = load_ruleset(settings.rules_path).needs.api_calls
    detector, stub = _stubbed_detector(user, apis)

    with enable_iam_authentication():
        # WHEN the event source mapping (with the function's permissions) polls the queue
        sqs = user.client("sqs")
        messages = drain(sqs, w.queue_url)
        images = [m for m in messages if not is_test_event(m)]
        assert len(images) == 1
        # AND the real analyzer handles the batch with the function's credentials
        analyzer = Analyzer.build(settings, session=user, detector=detector)
        event = lambda_event(messages, w.queue_arn, w.region)
        response = analyzer.handle(event)
        # THEN every record succeeds
        assert response == {"batchItemFailures": []}
        # AND a redelivery once the source is gone (e.g. a crash before the ack) is finished from
        # the result record, which the function must be allowed to read back
        plain = Settings.from_env({k: v for k, v in env.items() if k != "IDEMPOTENCY_TABLE"})
        again = Analyzer.build(plain, session=user, detector=detector).handle(event)
        assert again == {"batchItemFailures": []}
        for m in messages:  # the mapping deletes what succeeded
            sqs.delete_message(QueueUrl=w.queue_url, ReceiptHandle=m["ReceiptHandle"])

        # AND nothing beyond the policy is possible
        s3 = user.client("s3")
        assert _denied(lambda: s3.put_object(Bucket=w.bucket, Key="other/x.txt", Body=b"x"))
        assert _denied(lambda: s3.put_object(Bucket=w.bucket, Key="images/loop.jpg", Body=b"x"))
        assert _denied(lambda: s3.get_object(Bucket=w.bucket, Key="other/secret.txt"))
        record_key = next(k for k in _keys(s3, w.bucket) if k.startswith("results/"))
        assert _denied(lambda: s3.delete_object(Bucket=w.bucket, Key="other/secret.txt"))
        assert _denied(lambda: s3.put_object_tagging(
            Bucket=w.bucket, Key=record_key, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}))
        other_topic = w.topic_arn.rsplit(":", 1)[0] + ":someone-elses-topic"
        sns = user.client("sns")
        assert _denied(lambda: sns.publish(TopicArn=other_topic, Message="hi"))
        assert _denied(lambda: sqs.send_message(QueueUrl=w.queue_url, MessageBody="x"))
        dynamodb = user.client("dynamodb")
        assert _denied(lambda: dynamodb.put_item(TableName="other-table", Item={"id": {"S": "1"}}))
        assert _denied(lambda: dynamodb.delete_table(TableName=w.table))
        assert _denied(lambda: user.client("iam").list_users())

    stub.assert_no_pending_responses()
    # the image was routed, the record written, the verdict announced, the work remembered
    listed = _keys(admin_s3, w.bucket)
    assert "images/trail/cat 1.jpg" not in listed
    routed = [k for k in listed if k.startswith("analyzed/") and k.endswith("trail/cat 1.jpg")]
    assert len(routed) == 1
    assert any(k.startswith("results/") for k in listed)
    [note] = admin.client("sqs").receive_message(QueueUrl=sink, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(note["Body"])
    assert envelope["TopicArn"] == w.topic_arn
    assert envelope["MessageAttributes"]["verdict"]["Value"] == routed[0].split("/")[1]
    assert admin.client("dynamodb").scan(TableName=w.table)["Count"] == 1


def test_function_policy_allows_rejudging_archived_copies_and_nothing_more(
    tmp_path: Path, stack: ProgramRun, deployed: tuple[DeployedWorld, boto3.Session, boto3.Session]
) -> None:
    from moto.moto_api import state_manager
    from moto.s3.models import s3_backends

    from analyzer.rejudge import rejudge_message

    w, admin, user = deployed
    env = _function_env(stack, w, tmp_path)
    settings = Settings.from_env(env)
    deployed_rules = load_ruleset(settings.rules_path)
    admin_s3, admin_sqs = admin.client("s3"), admin.client("sqs")
    admin_s3.put_object(Bucket=w.bucket, Key="images/trail/cat 1.jpg", Body=SAMPLE_JPEG.read_bytes())
    detector, stub = _stubbed_detector(user, deployed_rules.needs.api_calls)
    with enable_iam_authentication():
        messages = drain(user.client("sqs"), w.queue_url)
        Analyzer.build(settings, session=user, detector=detector).handle(
            lambda_event(messages, w.queue_arn, w.region))
    stub.assert_no_pending_responses()  # no Rekognition response left: re-judging calls none
    [routed] = [k for k in _keys(admin_s3, w.bucket) if k.startswith("analyzed/")]
    verdict = routed.split("/")[1]
    # GIVEN the copy archived by the lifecycle, and rules under which its verdict changes
    admin_s3.copy_object(Bucket=w.bucket, Key=routed, CopySource={"Bucket": w.bucket, "Key": routed},
                         StorageClass="GLACIER", MetadataDirective="COPY")
    other = "review" if verdict != "review" else "success"
    flipped = parse_ruleset(
        "version: 1\ndefault_verdict: " + other + "\nrules:\n  - name: nothing\n"
        "    type: label_match\n    labels: [NoSuchLabelAnywhere]\n    outcome: tag\n",
        "flipped.yaml")

    def rejudge(run: str) -> dict[str, Any]:
        body = rejudge_message(w.bucket, run, [{"source_key": "images/trail/cat 1.jpg"}])
        admin_sqs.send_message(QueueUrl=w.queue_url, MessageBody=json.dumps(body))
        with enable_iam_authentication():
            msgs = drain(user.client("sqs"), w.queue_url)
            analyzer = Analyzer.build(settings, session=user, detector=detector, ruleset=flipped)
            response: dict[str, Any] = dict(analyzer.handle(
                lambda_event(msgs, w.queue_arn, w.region)))
            for m in msgs:
                user.client("sqs").delete_message(QueueUrl=w.queue_url,
                                                  ReceiptHandle=m["ReceiptHandle"])
        return response

    state_manager.set_transition("s3::keyrestore", {"progression": "manual", "times": 10**9})
    try:
        # WHEN the function re-judges it: record moved, restore requested (function credentials)
        assert rejudge("run-1") == {"batchItemFailures": []}
        assert "Restore" in admin_s3.head_object(Bucket=w.bucket, Key=routed)
        # WHEN the restore is done and the function re-judges again: the copy moves
        s3_backends["123456789012"]["aws"].get_object(w.bucket, routed).status = "RESTORED"
        assert rejudge("run-2") == {"batchItemFailures": []}
    finally:
        state_manager.unset_transition("s3::keyrestore")
    listed = _keys(admin_s3, w.bucket)
    assert f"analyzed/{other}/trail/cat 1.jpg" in listed and routed not in listed
    assert f"results/{other}/trail/cat 1.jpg.json" in listed
    assert f"results/{verdict}/trail/cat 1.jpg.json" not in listed
    # AND the new grants are scoped: no restore, no record delete outside their prefixes
    admin_s3.put_object(Bucket=w.bucket, Key="other/cold.bin", Body=b"x", StorageClass="GLACIER")
    with enable_iam_authentication():
        s3 = user.client("s3")
        assert _denied(lambda: s3.restore_object(
            Bucket=w.bucket, Key="other/cold.bin",
            RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}}))
        assert _denied(lambda: s3.delete_object(Bucket=w.bucket, Key="other/cold.bin"))
