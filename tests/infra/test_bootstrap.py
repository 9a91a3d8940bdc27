"""The state-backend bootstrap program under mocks: private, versioned, KMS-encrypted, TLS-only."""

from __future__ import annotations

import json

from infra.mockrun import run_program
from tests.support.paths import ROOT


def test_bootstrap_creates_a_safe_state_bucket_and_secrets_key() -> None:
    # WHEN the bootstrap program runs (local backend, once per account/region)
    run = run_program(
        "state", {"aws:region": "eu-west-1"}, ROOT / "bootstrap" / "__main__.py",
        project="imgpipe-bootstrap",
    )
    # THEN the bucket is private, versioned, encrypted with the secrets key, TLS only
    key = run.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    bucket = run.one("aws:s3/bucket:Bucket")
    assert bucket.inputs["bucketPrefix"] == "imgpipe-pulumi-state-"
    assert "forceDestroy" not in bucket.inputs
    block = run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[f] is True for f in ("blockPublicAcls", "blockPublicPolicy",
                                          "ignorePublicAcls", "restrictPublicBuckets"))
    assert run.one("aws:s3/bucketVersioning:BucketVersioning").inputs[
        "versioningConfiguration"] == {"status": "Enabled"}
    sse = run.one("aws:s3/bucketServerSideEncryptionConfiguration:"
                  "BucketServerSideEncryptionConfiguration").inputs["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.outputs["arn"],
    }  # fmt: skip
    [deny] = json.loads(run.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # AND the outputs are what `pulumi login` and `--secrets-provider` take
    name = bucket.outputs["bucket"]
    assert run.outputs["login_url"] == f"s3://{name}?region=eu-west-1"
    assert run.outputs["secrets_provider"] == (
        "awskms://alias/imgpipe-pulumi-secrets?region=eu-west-1"
    )
