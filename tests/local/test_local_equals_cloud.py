"""The "laptop equals cloud" property: for the same recorded responses, `imgpipe run --backend
replay` and the Lambda (S3 -> SQS -> handler, in moto) give every image the same verdict,
categories, matches and rejection reason.

The Lambda side is the real flow: the samples are uploaded under ``images/``, S3 notifies the
queue, the queue's messages become the SQS event, and the analyzer that ``analyzer.handler``
wraps handles it (built with :meth:`Analyzer.build`, the same wiring as ``Analyzer.from_env``
with the detector injected: Rekognition cannot run in moto). Its detector reads each object's
bytes from S3 and answers from the recordings, exactly what the laptop's replay backend does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from analyzer.app import Analyzer
from analyzer.config import Settings
from analyzer.ports import BytesImage, Detection, ImageSource, S3Image
from imgpipe.local.replay import RecordingStore, ReplayDetector
from imgpipe.local.runner import LocalRun, collect_inputs
from rules import Needs, load_ruleset
from tests.support.paths import DEMO_RULES, ROOT, SAMPLES

REGION = "eu-west-1"
COMPARED = ("verdict", "categories", "matches", "reason", "features")
RULES = [DEMO_RULES, ROOT / "rules" / "presets" / "wildlife.yaml", ROOT / "rules" / "presets" / "content-moderation.yaml"]


class S3ReplayDetector:
    """The cloud's view of a recording: fetch the object's bytes, then replay by content."""

    def __init__(self, s3: Any, store: RecordingStore) -> None:
        self.s3 = s3
        self.replay = ReplayDetector(store)
        self.images: list[S3Image] = []

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        assert isinstance(image, S3Image), "the Lambda must hand Rekognition S3 references"
        self.images.append(image)
        body = self.s3.get_object(Bucket=image.bucket, Key=image.key)["Body"].read()
        return self.replay.detect(BytesImage(body, image.key), needs)


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION, "POWERTOOLS_METRICS_NAMESPACE": "imgpipe-test",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        s3, sqs = session.client("s3"), session.client("sqs")
        bucket = f"imgpipe-laptop-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        queue_url = sqs.create_queue(QueueName=f"images-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={"QueueConfigurations": [{
                "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "images/"}]}},
            }]},
        )
        yield {"session": session, "s3": s3, "sqs": sqs, "bucket": bucket, "queue_url": queue_url,
               "queue_arn": queue_arn}


def _sqs_event(cloud: dict[str, Any]) -> dict[str, Any]:
    records = []
    while True:
        resp = cloud["sqs"].receive_message(QueueUrl=cloud["queue_url"], MaxNumberOfMessages=10)
        messages = resp.get("Messages", [])
        if not messages:
            return {"Records": records}
        records.extend(
            {
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": {}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs", "eventSourceARN": cloud["queue_arn"], "awsRegion": REGION,
            }
            for m in messages
        )


@pytest.mark.parametrize("rules", RULES, ids=lambda p: p.stem)
def test_same_recorded_responses_give_same_verdicts_on_laptop_and_in_lambda(
    cloud: dict[str, Any], recordings: Path, tmp_path: Path, rules: Path
) -> None:
    store = RecordingStore(recordings)
    images = collect_inputs([SAMPLES])

    # GIVEN every sample uploaded under images/ (S3 notifies the queue)
    for image in images:
        cloud["s3"].put_object(Bucket=cloud["bucket"], Key=image.key, Body=image.path.read_bytes())
    event = _sqs_event(cloud)

    # WHEN the Lambda's analyzer handles the queue's messages
    settings = Settings.from_env({"RULES_PATH": str(rules), "BUCKET_NAME": cloud["bucket"]})
    detector = S3ReplayDetector(cloud["s3"], store)
    analyzer = Analyzer.build(settings, session=cloud["session"], detector=detector)
    assert analyzer.handle(event, None) == {"batchItemFailures": []}

    # AND the laptop runs the same files with the replay backend
    summary = LocalRun(load_ruleset(rules), ReplayDetector(store), tmp_path / "out", workers=2).run(images)

    # THEN each image has the same verdict, categories, matches and reason in both
    for result in summary.results:
        assert result.outcome is not None, result.error
        laptop = result.outcome.to_dict()
        listed = cloud["s3"].list_objects_v2(Bucket=cloud["bucket"], Prefix="results/")["Contents"]
        (key,) = [o["Key"] for o in listed if o["Key"].endswith(f"/{result.image.rel}.json")]
        cloud_record = json.loads(cloud["s3"].get_object(Bucket=cloud["bucket"], Key=key)["Body"].read())
        assert {k: cloud_record[k] for k in COMPARED} == {k: laptop[k] for k in COMPARED}, result.image.rel
        assert cloud_record["destination_key"] == laptop["destination_key"]
        # the copy is where both say it is, in the bucket and in the folder
        assert (tmp_path / "out" / laptop["destination_key"]).is_file()
        cloud["s3"].head_object(Bucket=cloud["bucket"], Key=cloud_record["destination_key"])
    # AND the detector saw only the images that passed the pre-checks, by S3 reference
    assert sorted(i.key for i in detector.images) == sorted(
        r.image.key for r in summary.results if r.outcome and r.outcome.reason is None
    )
    assert len({r.verdict for r in summary.results}) >= 2  # the comparison covers several verdicts
