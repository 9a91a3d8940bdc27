"""State backend bootstrap: a private, versioned, encrypted state bucket and a secrets key.

    cd bootstrap && pulumi login --local && pulumi stack init state && pulumi up
    pulumi login "$(pulumi stack output login_url)"            # then, from the project folder
    pulumi stack init dev --secrets-provider "$(pulumi stack output secrets_provider)"

The DIY S3 backend locks stacks with lock objects in the bucket itself: no DynamoDB table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project, for infra.policies

from infra.policies import tls_only_bucket_policy

config = pulumi.Config()
alias_name = config.get("keyAlias") or "imgpipe-pulumi-secrets"
noncurrent_days = config.get_int("noncurrentVersionDays") or 90
region = aws.get_region_output().region
protect = pulumi.ResourceOptions(protect=True)

key = aws.kms.Key(
    "secrets-key",
    description="Encrypts the secrets of imgpipe's Pulumi stacks (awskms:// secrets provider)",
    enable_key_rotation=True,
    deletion_window_in_days=30,
    opts=protect,
)
alias = aws.kms.Alias("secrets-key-alias", name=f"alias/{alias_name}", target_key_id=key.key_id)

bucket = aws.s3.Bucket("state", bucket_prefix="imgpipe-pulumi-state-", opts=protect)
aws.s3.BucketPublicAccessBlock(
    "state-public-access-block",
    bucket=bucket.id,
    block_public_acls=True,
    block_public_policy=True,
    ignore_public_acls=True,
    restrict_public_buckets=True,
)
aws.s3.BucketOwnershipControls(
    "state-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}
)
aws.s3.BucketVersioning(
    "state-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}
)
aws.s3.BucketServerSideEncryptionConfiguration(
    "state-encryption",
    bucket=bucket.id,
    rules=[
        {
            "apply_server_side_encryption_by_default": {
                "sse_algorithm": "aws:kms",
                "kms_master_key_id": key.arn,
            },
            "bucket_key_enabled": True,
        }
    ],
)
aws.s3.BucketPolicy(
    "state-tls-only",
    bucket=bucket.id,
    policy=bucket.arn.apply(lambda arn: json.dumps(tls_only_bucket_policy(arn))),
)
aws.s3.BucketLifecycleConfiguration(
    "state-lifecycle",
    bucket=bucket.id,
    rules=[
        {
            "id": "expire-old-state-versions",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "noncurrent_version_expiration": {"noncurrent_days": noncurrent_days},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
        }
    ],
)

pulumi.export("state_bucket", bucket.bucket)
pulumi.export(
    "login_url",
    pulumi.Output.all(bucket.bucket, region).apply(lambda v: f"s3://{v[0]}?region={v[1]}"),
)
pulumi.export(
    "secrets_provider",
    pulumi.Output.all(alias.name, region).apply(lambda v: f"awskms://{v[0]}?region={v[1]}"),
)
pulumi.export("secrets_key_arn", key.arn)
