"""imgpipe — one Pulumi program, one stack per environment (Pulumi.<stack>.yaml + rules/<stack>.yaml).

Reads and validates the stack's settings and rules file, builds the components, exports outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pulumi

from infra.components import (
    AnalyzerFunction,
    AnalyzerFunctionArgs,
    Encryption,
    EncryptionArgs,
    Monitoring,
    MonitoringArgs,
    Notification,
    NotificationArgs,
    Queueing,
    QueueingArgs,
    Storage,
    StorageArgs,
)
from infra.components.dashboard import NAMESPACE, SERVICE, DashboardMetrics
from infra.components.review import ReviewAccess, ReviewAccessArgs
from infra.environment import INPUT_PREFIX, OUTPUT_PREFIX, RESULTS_PREFIX, function_environment
from infra.program import account_id, load_stack

loaded = load_stack(Path(__file__).resolve().parent)
s = loaded.settings
tags = s.resource_tags
account = account_id()
name = f"imgpipe-{s.stack}"

key_arn = (
    Encryption(
        f"{name}-kms",
        EncryptionArgs(account, f"imgpipe-{s.stack}", s.production, tags),
    ).key_arn
    if s.kms
    else None
)
storage = Storage(
    f"{name}-storage",
    StorageArgs(
        output_prefix=OUTPUT_PREFIX,
        kms_key_arn=key_arn,
        force_destroy=s.force_destroy,
        production=s.production,
        archive_days=s.archive_days,
        archive_storage_class=s.archive_storage_class,
        archive_min_object_bytes=s.archive_min_object_bytes,
        noncurrent_version_days=s.noncurrent_version_days,
        abort_multipart_days=s.abort_multipart_days,
        tags=tags,
    ),
)
notification = Notification(
    f"{name}-notification", NotificationArgs(key_arn, s.subscriptions, tags)
)
queueing = Queueing(
    f"{name}-queueing",
    QueueingArgs(
        bucket_id=storage.bucket_id,
        bucket_arn=storage.bucket_arn,
        account_id=account,
        input_prefix=INPUT_PREFIX,
        kms_key_arn=key_arn,
        visibility_timeout_seconds=s.visibility_timeout_seconds,
        max_receive_count=s.max_receive_count,
        queue_retention_seconds=s.queue_retention_seconds,
        dlq_retention_seconds=s.dlq_retention_seconds,
        tags=tags,
    ),
)
analyzer = AnalyzerFunction(
    f"{name}-analyzer",
    AnalyzerFunctionArgs(
        function_name=loaded.function_name,
        account_id=account,
        code=loaded.artifacts.code,
        layer=loaded.artifacts.layer,
        environment=function_environment(
            s,
            bucket_name=storage.bucket_name,
            topic_arn=notification.topic_arn,
        ),
        bucket_arn=storage.bucket_arn,
        topic_arn=notification.topic_arn,
        queue_arn=queueing.queue_arn,
        input_prefix=INPUT_PREFIX,
        output_prefix=OUTPUT_PREFIX,
        results_prefix=RESULTS_PREFIX,
        rekognition_grants=loaded.rekognition_grants,
        kms_key_arn=key_arn,
        memory_mb=s.memory_mb,
        timeout_seconds=s.timeout_seconds,
        log_retention_days=s.log_retention_days,
        batch_size=s.batch_size,
        batching_window_seconds=s.batching_window_seconds,
        max_concurrency=s.max_concurrency,
        production=s.production,
        tags=tags,
    ),
)
monitoring = Monitoring(
    f"{name}-monitoring",
    MonitoringArgs(
        account_id=account,
        kms_key_arn=key_arn,
        alarm_email=s.alarm_email,
        dlq_name=queueing.dlq_name,
        function_name=analyzer.function_name,
        alarms=s.alarms,
        tags=tags,
        queue_name=queueing.queue_name,
        dashboard=DashboardMetrics(
            dashboard_name=name,
            stack=s.stack,
            rekognition_apis=loaded.rekognition_apis,
            namespace=s.environment.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE),
            service=s.environment.get("POWERTOOLS_SERVICE_NAME", SERVICE),
        ),
    ),
)

review = ReviewAccess(
    f"{name}-review",
    ReviewAccessArgs(
        bucket_arn=storage.bucket_arn,
        topic_arn=notification.topic_arn,
        output_prefix=OUTPUT_PREFIX,
        results_prefix=RESULTS_PREFIX,
        kms_key_arn=key_arn,
        tags=tags,
    ),
)

pulumi.export("bucket_name", storage.bucket_name)
pulumi.export("upload_prefix", INPUT_PREFIX)
pulumi.export("queue_url", queueing.queue_url)
pulumi.export("dlq_url", queueing.dlq_url)
pulumi.export("topic_arn", notification.topic_arn)
pulumi.export("ops_topic_arn", monitoring.ops_topic_arn)
pulumi.export("function_name", analyzer.function_name)
pulumi.export("dashboard_name", monitoring.dashboard_name)
pulumi.export("reviewer_policy_arn", review.policy_arn)
pulumi.export("table_name", analyzer.table_name)
# relpath, not relative_to: a rules file outside the project (a shared rules repository) is allowed
pulumi.export("rules_file", os.path.relpath(loaded.rules_file, Path(__file__).resolve().parent))
pulumi.export("code_sha256", loaded.artifacts.code.sha256)
pulumi.export("layer_sha256", loaded.artifacts.layer.sha256)
