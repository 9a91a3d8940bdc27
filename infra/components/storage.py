"""The image bucket: private, encrypted, versioned, TLS-only, archived by lifecycle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components._util import child, policy_json
from infra.policies import tls_only_bucket_policy

#: Verdict folders the lifecycle archives; ``review`` is left out on purpose (see above).
ARCHIVED_VERDICTS = ("success", "failure")


@dataclass
class StorageArgs:
    output_prefix: str
    kms_key_arn: pulumi.Input[str] | None
    force_destroy: bool
    production: bool
    archive_days: int
    archive_storage_class: str
    archive_min_object_bytes: int
    noncurrent_version_days: int
    abort_multipart_days: int
    tags: dict[str, str]


class Storage(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    bucket_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imgpipe:index:Storage", name, None, opts)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            force_destroy=args.force_destroy and not args.production,
            tags=args.tags,
            opts=child(self, protect=args.production),
        )
        public_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child(self),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},  # ACLs off
            opts=child(self),
        )
        default_sse: Any = (
            {"sse_algorithm": "aws:kms", "kms_master_key_id": args.kms_key_arn}
            if args.kms_key_arn is not None
            else {"sse_algorithm": "AES256"}
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": default_sse,
                    "bucket_key_enabled": args.kms_key_arn is not None,
                }
            ],
            opts=child(self),
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child(self),
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket.id,
            policy=policy_json(tls_only_bucket_policy, bucket.arn),
            opts=child(self, depends_on=[public_block]),
        )
        # one rule per decided verdict: analyzed/review/ waits for a person and is never archived
        # before it is decided (a decision moves it to success or failure)
        archive_rules: list[aws.s3.BucketLifecycleConfigurationRuleArgsDict] = [
            {
                "id": f"archive-analyzed-{verdict}",
                "status": "Enabled",
                "filter": {
                    "and_": {
                        "prefix": f"{args.output_prefix}{verdict}/",
                        "object_size_greater_than": args.archive_min_object_bytes,
                    }
                },
                "transitions": [
                    {"days": args.archive_days, "storage_class": args.archive_storage_class}
                ],
            }
            for verdict in ARCHIVED_VERDICTS
        ]
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                *archive_rules,
                {
                    "id": "expire-noncurrent-versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {
                        "noncurrent_days": args.noncurrent_version_days
                    },
                },
                {
                    "id": "abort-incomplete-multipart-uploads",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "abort_incomplete_multipart_upload": {
                        "days_after_initiation": args.abort_multipart_days
                    },
                },
            ],
            opts=child(self, depends_on=[versioning]),
        )
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.bucket_id = bucket.id
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})
