"""The program, evaluated under Pulumi mocks for the real dev and prod stack files: every
property the stack promises, checked on what the program actually declares."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from infra.mockrun import ACCOUNT_ID, ProgramRun
from rules import load_ruleset
from rules.analyses import iam_grants
from tests.infra.conftest import settings_of
from tests.support.paths import ROOT

BUCKET = "aws:s3/bucket:Bucket"
QUEUE = "aws:sqs/queue:Queue"
TOPIC = "aws:sns/topic:Topic"
FUNCTION = "aws:lambda/function:Function"
ESM = "aws:lambda/eventSourceMapping:EventSourceMapping"


def _queue(run: ProgramRun, suffix: str):  # type: ignore[no-untyped-def]
    return run.named(f"imgpipe-{run.stack}-queueing-{suffix}")


def _topic(run: ProgramRun, name: str):  # type: ignore[no-untyped-def]
    return run.named(f"imgpipe-{run.stack}-{name}")


def test_resource_names_are_unique_and_components_typed(run: ProgramRun) -> None:
    # GIVEN the resources the program declared
    names = Counter(r.name for r in run.resources)
    # THEN no logical name repeats (the real engine would reject duplicate URNs; mocks do not)
    assert [n for n, c in names.items() if c > 1] == []
    components = {r.type for r in run.resources if r.type.startswith("imgpipe:")}
    expected = {"Storage", "Queueing", "AnalyzerFunction", "Notification", "Monitoring",
                "ReviewAccess"}
    if run.stack == "prod":
        expected.add("Encryption")
    assert components == {f"imgpipe:index:{c}" for c in expected}


def test_bucket_is_private_encrypted_versioned_and_tls_only(run: ProgramRun) -> None:
    bucket = run.one(BUCKET)
    name = bucket.outputs["bucket"]
    block = run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert block == {
        "bucket": name, "blockPublicAcls": True, "blockPublicPolicy": True,
        "ignorePublicAcls": True, "restrictPublicBuckets": True,
    }  # fmt: skip
    ownership = run.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    versioning = run.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}

    policy = json.loads(run.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    [deny] = policy["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]

    sse = run.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"][0]
    if run.stack == "prod":
        key_arn = run.one("aws:kms/key:Key").outputs["arn"]
        assert sse["applyServerSideEncryptionByDefault"] == {
            "sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn,
        }  # fmt: skip
        assert sse["bucketKeyEnabled"] is True
    else:
        assert sse["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}


def test_force_destroy_only_outside_production(dev: ProgramRun, prod: ProgramRun) -> None:
    assert dev.one(BUCKET).inputs["forceDestroy"] is True
    assert prod.one(BUCKET).inputs["forceDestroy"] is False


def test_lifecycle_archives_analyzed_cleans_versions_and_uploads(run: ProgramRun) -> None:
    s = settings_of(run.stack)
    rules = {
        r["id"]: r
        for r in run.one(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
        ).inputs["rules"]
    }
    for verdict in ("success", "failure"):  # analyzed/review/ waits for a person: never archived
        archive = rules[f"archive-analyzed-{verdict}"]
        assert archive["status"] == "Enabled"
        assert archive["filter"] == {"and": {
            "prefix": f"analyzed/{verdict}/", "objectSizeGreaterThan": s.archive_min_object_bytes}}
        assert archive["transitions"] == [
            {"days": s.archive_days, "storageClass": s.archive_storage_class}
        ]
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {
        "noncurrentDays": s.noncurrent_version_days
    }
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {
        "daysAfterInitiation": s.abort_multipart_days
    }
    expected_class = {"dev": "GLACIER_IR", "prod": "GLACIER"}[run.stack]
    assert archive["transitions"][0]["storageClass"] == expected_class


def test_one_notification_for_every_object_created_under_images(run: ProgramRun) -> None:
    # GIVEN the single notification resource of the bucket
    notification = run.one("aws:s3/bucketNotification:BucketNotification").inputs
    queue_arn = _queue(run, "queue").outputs["arn"]
    # THEN it covers Put, Post, Copy and multipart, only under images/, into the main queue
    assert notification["bucket"] == run.one(BUCKET).outputs["bucket"]
    assert notification["queues"] == [
        {"id": "images-to-queue", "queueArn": queue_arn, "events": ["s3:ObjectCreated:*"],
         "filterPrefix": "images/"}
    ]  # fmt: skip
    assert "lambdaFunctions" not in notification and "topics" not in notification


def test_queue_visibility_redrive_retention_and_encryption(run: ProgramRun) -> None:
    s = settings_of(run.stack)
    queue = _queue(run, "queue").inputs
    dlq = _queue(run, "dlq")
    # visibility >= 6 x function timeout + batching window (AWS guidance), computed exactly
    assert queue["visibilityTimeoutSeconds"] == 6 * s.timeout_seconds + s.batching_window_seconds
    assert queue["visibilityTimeoutSeconds"] == {"dev": 180, "prod": 725}[run.stack]
    function = run.one(FUNCTION).inputs
    assert queue["visibilityTimeoutSeconds"] >= 6 * function["timeout"]
    assert json.loads(queue["redrivePolicy"]) == {
        "deadLetterTargetArn": dlq.outputs["arn"], "maxReceiveCount": s.max_receive_count,
    }  # fmt: skip
    assert queue["messageRetentionSeconds"] == s.queue_retention_seconds
    assert dlq.inputs["messageRetentionSeconds"] == s.dlq_retention_seconds
    for q in (queue, dlq.inputs):
        if run.stack == "prod":
            assert q["kmsMasterKeyId"] == run.one("aws:kms/key:Key").outputs["arn"]
            assert "sqsManagedSseEnabled" not in q
        else:  # never the AWS-managed aws/sqs key: S3 could not deliver
            assert q["sqsManagedSseEnabled"] is True
            assert "kmsMasterKeyId" not in q
    allow = run.one("aws:sqs/redriveAllowPolicy:RedriveAllowPolicy").inputs
    assert allow["queueUrl"] == dlq.outputs["url"]
    assert json.loads(allow["redriveAllowPolicy"]) == {
        "redrivePermission": "byQueue", "sourceQueueArns": [_queue(run, "queue").outputs["arn"]],
    }  # fmt: skip


def test_queue_policy_lets_only_this_bucket_send(run: ProgramRun) -> None:
    policy_resource = run.one("aws:sqs/queuePolicy:QueuePolicy").inputs
    queue = _queue(run, "queue").outputs
    assert policy_resource["queueUrl"] == queue["url"]
    [stmt] = json.loads(policy_resource["policy"])["Statement"]
    assert stmt["Effect"] == "Allow"
    assert stmt["Principal"] == {"Service": "s3.amazonaws.com"}
    assert stmt["Action"] == ["sqs:SendMessage"]
    assert stmt["Resource"] == [queue["arn"]]
    assert stmt["Condition"] == {
        "ArnEquals": {"aws:SourceArn": run.one(BUCKET).outputs["arn"]},
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
    }


def test_function_runtime_artifacts_and_environment(run: ProgramRun) -> None:
    s = settings_of(run.stack)
    fn = run.one(FUNCTION).inputs
    assert fn["runtime"] == "python3.13"
    assert fn["architectures"] == ["arm64"]
    assert fn["handler"] == "analyzer.handler.handler"
    assert fn["memorySize"] == s.memory_mb and fn["timeout"] == s.timeout_seconds
    layer = run.one("aws:lambda/layerVersion:LayerVersion")
    assert fn["layers"] == [layer.outputs["arn"]]
    assert layer.inputs["compatibleRuntimes"] == ["python3.13"]
    assert layer.inputs["compatibleArchitectures"] == ["arm64"]
    assert fn["sourceCodeHash"] and layer.inputs["sourceCodeHash"]
    env = fn["environment"]["variables"]
    assert env == {
        "RULES_PATH": "/var/task/stack_rules/rules.yaml",
        "TOPIC_ARN": _topic(run, "notification-topic").outputs["arn"],
        "INPUT_PREFIX": "images/",
        "OUTPUT_PREFIX": "analyzed/",
        "RESULTS_PREFIX": "results/",
        "IDEMPOTENCY_TABLE": run.one("aws:dynamodb/table:Table").outputs["name"],
        "IDEMPOTENCY_TTL_SECONDS": str(s.idempotency_ttl_seconds),
        "BUCKET_NAME": run.one(BUCKET).outputs["bucket"],
        "MAX_WORKERS": str(s.max_workers),
    }
    log_group = run.one("aws:cloudwatch/logGroup:LogGroup").inputs
    assert log_group["name"] == f"/aws/lambda/{fn['name']}"
    assert log_group["retentionInDays"] == s.log_retention_days
    assert fn["loggingConfig"] == {"logGroup": log_group["name"], "logFormat": "JSON"}


def test_environment_is_what_the_analyzer_accepts(run: ProgramRun) -> None:
    from analyzer.config import Settings

    env = run.one(FUNCTION).inputs["environment"]["variables"]
    settings = Settings.from_env(env)
    assert settings.input_prefix == "images/" and settings.output_prefix == "analyzed/"
    assert settings.idempotency_table and settings.topic_arn


def test_event_source_mapping(run: ProgramRun) -> None:
    s = settings_of(run.stack)
    esm = run.one(ESM).inputs
    assert esm["eventSourceArn"] == _queue(run, "queue").outputs["arn"]
    assert esm["functionName"] == run.one(FUNCTION).outputs["arn"]
    assert esm["batchSize"] == s.batch_size
    assert esm["maximumBatchingWindowInSeconds"] == s.batching_window_seconds
    assert esm["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["scalingConfig"] == {"maximumConcurrency": s.max_concurrency}
    # the cap keeps the peak Rekognition call rate inside the configured quota
    peak = s.max_concurrency * min(s.batch_size, s.max_workers) / s.rekognition_call_seconds
    assert peak <= s.rekognition_tps_quota


def test_idempotency_table(run: ProgramRun) -> None:
    table = run.one("aws:dynamodb/table:Table").inputs
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["hashKey"] == "id" and table["attributes"] == [{"name": "id", "type": "S"}]
    assert table["ttl"] == {"attributeName": "expiration", "enabled": True}
    assert table["serverSideEncryption"]["enabled"] is True
    assert table["deletionProtectionEnabled"] is (run.stack == "prod")


def test_topics_encryption_and_subscriptions(run: ProgramRun) -> None:
    verdicts = _topic(run, "notification-topic").inputs
    ops = _topic(run, "monitoring-ops-topic").inputs
    subs = {
        r.name: r.inputs for r in run.of_type("aws:sns/topicSubscription:TopicSubscription")
    }
    if run.stack == "prod":
        key = run.one("aws:kms/key:Key").outputs["arn"]
        assert verdicts["kmsMasterKeyId"] == key and ops["kmsMasterKeyId"] == key
        topic_arn = _topic(run, "notification-topic").outputs["arn"]
        assert subs["imgpipe-prod-notification-sub-0-email"] == {
            "topic": topic_arn, "protocol": "email", "endpoint": "qc-team@example.com",
            "filterPolicy": json.dumps({"verdict": ["failure", "review"]}),
            "filterPolicyScope": "MessageAttributes",
        }  # fmt: skip
        assert json.loads(subs["imgpipe-prod-notification-sub-1-sms"]["filterPolicy"]) == {
            "verdict": ["failure"]
        }
        https = subs["imgpipe-prod-notification-sub-2-https"]
        assert "filterPolicy" not in https  # no verdicts listed: every verdict
        assert subs["imgpipe-prod-monitoring-ops-email"]["endpoint"] == "oncall@example.com"
    else:
        assert verdicts["kmsMasterKeyId"] == "alias/aws/sns"
        # CloudWatch cannot publish to an aws/sns-encrypted topic: without a stack key the ops
        # topic stays unencrypted, and says so
        assert "kmsMasterKeyId" not in ops
        assert ops["tags"]["imgpipe:sse-exempt"] == "cloudwatch-alarms"
        assert sorted(subs) == [
            "imgpipe-dev-monitoring-ops-email", "imgpipe-dev-notification-sub-0-email",
        ]  # fmt: skip


def test_ops_topic_accepts_cloudwatch(run: ProgramRun) -> None:
    policy = json.loads(run.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])
    services = [s["Principal"] for s in policy["Statement"] if "Service" in s["Principal"]]
    assert services == [{"Service": "cloudwatch.amazonaws.com"}]


def test_alarms(run: ProgramRun) -> None:
    s = settings_of(run.stack)
    alarms = {r.name.rsplit("monitoring-", 1)[1]: r.inputs
              for r in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    ops_arn = _topic(run, "monitoring-ops-topic").outputs["arn"]
    dlq = alarms["dlq-not-empty"]
    assert dlq["namespace"] == "AWS/SQS"
    assert dlq["metricName"] == "ApproximateNumberOfMessagesVisible"
    assert dlq["dimensions"] == {"QueueName": _queue(run, "dlq").outputs["name"]}
    assert (dlq["threshold"], dlq["comparisonOperator"]) == (0, "GreaterThanThreshold")
    fn_name = run.one(FUNCTION).outputs["name"]
    for key, threshold in (("function-errors", s.alarms.errors_threshold),
                           ("function-throttles", s.alarms.throttles_threshold)):
        alarm = alarms[key]
        assert alarm["dimensions"] == {"FunctionName": fn_name}
        assert alarm["threshold"] == threshold
        assert alarm["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["period"] == s.alarms.period_seconds
    for alarm in alarms.values():
        assert alarm["alarmActions"] == [ops_arn]


def test_key_policy_lets_s3_and_cloudwatch_use_the_stack_key(prod: ProgramRun) -> None:
    policy = json.loads(prod.one("aws:kms/key:Key").inputs["policy"])
    by_service = {
        s["Principal"]["Service"]: s for s in policy["Statement"] if "Service" in s["Principal"]
    }
    assert set(by_service) == {"s3.amazonaws.com", "cloudwatch.amazonaws.com"}
    for stmt in by_service.values():
        assert stmt["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
        assert stmt["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    assert prod.one("aws:kms/key:Key").inputs["enableKeyRotation"] is True


def test_function_policy_is_least_privilege(run: ProgramRun) -> None:
    doc = json.loads(run.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    needs = load_ruleset(ROOT / settings_of(run.stack).rules_path).needs
    for stmt in doc["Statement"]:
        assert stmt["Effect"] == "Allow"
        for action in stmt["Action"]:
            assert "*" not in action, action
        if stmt["Resource"] == ["*"]:
            assert all(a.startswith("rekognition:Detect") for a in stmt["Action"])
        else:
            assert all(r != "*" for r in stmt["Resource"])
    rekognition = {a: s["Resource"] for s in doc["Statement"] for a in s["Action"]
                   if a.startswith("rekognition")}
    # only the APIs the stack's rules need, on the resources they need them on
    assert rekognition == {a: list(r) for a, r in iam_grants(needs.features).items()}
    assert set(rekognition) == {f"rekognition:{api}" for api in needs.api_calls}
    bucket_arn = run.one(BUCKET).outputs["arn"]
    writes = [s for s in doc["Statement"] if "s3:PutObject" in s["Action"]]
    assert [r for s in writes for r in s["Resource"]] == [
        f"{bucket_arn}/analyzed/*", f"{bucket_arn}/results/*",
    ]  # fmt: skip
    kms = [s for s in doc["Statement"] if s["Action"][0].startswith("kms:")]
    assert bool(kms) is (run.stack == "prod")


def test_outputs(run: ProgramRun) -> None:
    assert run.outputs == {
        "bucket_name": run.one(BUCKET).outputs["bucket"],
        "upload_prefix": "images/",
        "queue_url": _queue(run, "queue").outputs["url"],
        "dlq_url": _queue(run, "dlq").outputs["url"],
        "topic_arn": _topic(run, "notification-topic").outputs["arn"],
        "ops_topic_arn": _topic(run, "monitoring-ops-topic").outputs["arn"],
        "function_name": f"image-pipeline-{run.stack}-analyzer",
        "dashboard_name": f"imgpipe-{run.stack}",
        "reviewer_policy_arn": run.one("aws:iam/policy:Policy").outputs["arn"],
        "table_name": run.one("aws:dynamodb/table:Table").outputs["name"],
        "rules_file": f"rules/{run.stack}.yaml",
        "code_sha256": run.outputs["code_sha256"],
        "layer_sha256": run.outputs["layer_sha256"],
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stacks_differ_where_they_should(stack: str) -> None:
    s = settings_of(stack)
    assert s.kms is (stack == "prod") and s.production is (stack == "prod")


def test_project_file_runs_the_program_in_the_project_venv() -> None:
    import yaml

    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "image-pipeline"
    assert project["runtime"] == {
        "name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }  # fmt: skip
    for stack in ("dev", "prod"):
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert config["aws:region"]  # the provider needs it
        assert config["image-pipeline:rulesFile"] == f"rules/{stack}.yaml"
