"""Queue + DLQ fed by ONE bucket notification for every ObjectCreated event under the input prefix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components._util import child, policy_json
from infra.policies import queue_policy

#: Every way an object can be created: Put, Post, Copy, CompleteMultipartUpload.
OBJECT_CREATED = "s3:ObjectCreated:*"


@dataclass
class QueueingArgs:
    bucket_id: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    input_prefix: str
    kms_key_arn: pulumi.Input[str] | None
    visibility_timeout_seconds: int
    max_receive_count: int
    queue_retention_seconds: int
    dlq_retention_seconds: int
    tags: dict[str, str]


class Queueing(pulumi.ComponentResource):
    queue_url: pulumi.Output[str]
    queue_arn: pulumi.Output[str]
    queue_name: pulumi.Output[str]
    dlq_url: pulumi.Output[str]
    dlq_arn: pulumi.Output[str]
    dlq_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: QueueingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imgpipe:index:Queueing", name, None, opts)
        # S3 cannot use the AWS-managed aws/sqs key: SQS-managed SSE, or the stack's own key
        # whose policy lets s3.amazonaws.com use it.
        encryption: dict[str, Any] = (
            {"kms_master_key_id": args.kms_key_arn, "kms_data_key_reuse_period_seconds": 300}
            if args.kms_key_arn is not None
            else {"sqs_managed_sse_enabled": True}
        )
        dlq = aws.sqs.Queue(
            f"{name}-dlq",
            message_retention_seconds=args.dlq_retention_seconds,
            tags=args.tags,
            opts=child(self),
            **encryption,
        )
        queue = aws.sqs.Queue(
            f"{name}-queue",
            visibility_timeout_seconds=args.visibility_timeout_seconds,
            message_retention_seconds=args.queue_retention_seconds,
            receive_wait_time_seconds=20,
            redrive_policy=dlq.arn.apply(
                lambda arn: json.dumps(
                    {"deadLetterTargetArn": arn, "maxReceiveCount": args.max_receive_count}
                )
            ),
            tags=args.tags,
            opts=child(self),
            **encryption,
        )
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-redrive-allow",
            queue_url=dlq.id,
            redrive_allow_policy=queue.arn.apply(
                lambda arn: json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [arn]})
            ),
            opts=child(self),
        )
        policy = aws.sqs.QueuePolicy(
            f"{name}-queue-policy",
            queue_url=queue.id,
            policy=policy_json(queue_policy, queue.arn, args.bucket_arn, args.account_id),
            opts=child(self),
        )
        # One notification resource per bucket (a second one would fight this one forever).
        aws.s3.BucketNotification(
            f"{name}-bucket-notification",
            bucket=args.bucket_id,
            queues=[
                {
                    "id": "images-to-queue",
                    "queue_arn": queue.arn,
                    "events": [OBJECT_CREATED],
                    "filter_prefix": args.input_prefix,
                }
            ],
            opts=child(self, depends_on=[policy]),
        )
        self.queue_url = queue.url
        self.queue_arn = queue.arn
        self.queue_name = queue.name
        self.dlq_url = dlq.url
        self.dlq_arn = dlq.arn
        self.dlq_name = dlq.name
        self.register_outputs(
            {"queue_url": self.queue_url, "dlq_url": self.dlq_url, "queue_arn": self.queue_arn}
        )
