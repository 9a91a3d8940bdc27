"""The analyzer: layer + code zip, log group, least-privilege role, idempotency table, and the
SQS event source mapping with partial batch failures and a concurrency cap."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.artifacts import ARCHITECTURE, HANDLER, RUNTIME, Artifact
from infra.components._util import child, policy_json
from infra.policies import FunctionGrants, function_policy, lambda_assume_role

#: Powertools idempotency's default TTL attribute.
TTL_ATTRIBUTE = "expiration"


def archive_path(path: Path) -> str:
    """Relative to the program directory when possible, so state does not carry a home path."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


@dataclass
class AnalyzerFunctionArgs:
    function_name: str
    account_id: pulumi.Input[str]
    code: Artifact
    layer: Artifact
    environment: dict[str, Any]
    bucket_arn: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
    input_prefix: str
    output_prefix: str
    results_prefix: str
    #: IAM action -> resources the rules need (rules.analyses.iam_grants)
    rekognition_grants: Mapping[str, Sequence[str]]
    kms_key_arn: pulumi.Input[str] | None
    memory_mb: int
    timeout_seconds: int
    log_retention_days: int
    batch_size: int
    batching_window_seconds: int
    max_concurrency: int
    production: bool
    tags: dict[str, str]


class AnalyzerFunction(pulumi.ComponentResource):
    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    table_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    policy_document: pulumi.Output[str]

    def __init__(
        self, name: str, args: AnalyzerFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imgpipe:index:AnalyzerFunction", name, None, opts)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{args.function_name}",
            retention_in_days=args.log_retention_days,
            tags=args.tags,
            opts=child(self),
        )
        sse: Any = {"enabled": True}
        if args.kms_key_arn is not None:
            sse["kms_key_arn"] = args.kms_key_arn
        ttl: Any = {"attribute_name": TTL_ATTRIBUTE, "enabled": True}
        attributes: Any = [{"name": "id", "type": "S"}]
        pitr: Any = {"enabled": args.production}
        table = aws.dynamodb.Table(
            f"{name}-idempotency",
            billing_mode="PAY_PER_REQUEST",
            hash_key="id",
            attributes=attributes,
            ttl=ttl,
            server_side_encryption=sse,
            point_in_time_recovery=pitr,
            deletion_protection_enabled=args.production,
            tags=args.tags,
            opts=child(self),
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=policy_json(lambda_assume_role, args.account_id),
            tags=args.tags,
            opts=child(self),
        )

        def grants(
            bucket_arn: str, topic_arn: str, queue_arn: str, table_arn: str, log_arn: str,
            key_arn: str | None,
        ) -> dict[str, Any]:
            return function_policy(
                FunctionGrants(
                    bucket_arn=bucket_arn,
                    input_prefix=args.input_prefix,
                    output_prefix=args.output_prefix,
                    results_prefix=args.results_prefix,
                    topic_arn=topic_arn,
                    queue_arn=queue_arn,
                    table_arn=table_arn,
                    log_group_arn=log_arn,
                    rekognition=args.rekognition_grants,
                    kms_key_arn=key_arn,
                )
            )

        self.policy_document = policy_json(
            grants, args.bucket_arn, args.topic_arn, args.queue_arn, table.arn, log_group.arn,
            args.kms_key_arn,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=self.policy_document,
            opts=child(self),
        )
        layer = aws.lambda_.LayerVersion(
            f"{name}-deps",
            layer_name=f"{args.function_name}-deps",
            code=pulumi.FileArchive(archive_path(args.layer.path)),
            source_code_hash=args.layer.source_code_hash,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="imgpipe runtime dependencies (pinned, manylinux aarch64)",
            opts=child(self),
        )
        function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            role=role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=HANDLER,
            code=pulumi.FileArchive(archive_path(args.code.path)),
            source_code_hash=args.code.source_code_hash,
            layers=[layer.arn],
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            environment={"variables": {**args.environment, "IDEMPOTENCY_TABLE": table.name}},
            logging_config={"log_format": "JSON", "log_group": log_group.name},
            tags=args.tags,
            opts=child(self, depends_on=[role_policy, log_group]),
        )
        aws.lambda_.EventSourceMapping(
            f"{name}-queue-trigger",
            event_source_arn=args.queue_arn,
            function_name=function.arn,
            batch_size=args.batch_size,
            maximum_batching_window_in_seconds=args.batching_window_seconds,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": args.max_concurrency},
            opts=child(self, depends_on=[role_policy]),
        )
        self.function_name = function.name
        self.function_arn = function.arn
        self.table_name = table.name
        self.role_arn = role.arn
        self.register_outputs(
            {"function_name": self.function_name, "table_name": self.table_name}
        )
