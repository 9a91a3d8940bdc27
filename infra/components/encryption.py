"""The stack's customer-managed KMS key (only when ``kms: true``)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._util import child, policy_json
from infra.policies import key_policy


@dataclass
class EncryptionArgs:
    account_id: pulumi.Input[str]
    alias: str
    production: bool
    tags: dict[str, str]


class Encryption(pulumi.ComponentResource):
    """One symmetric key with rotation, usable by S3 and CloudWatch as well as the account."""

    key_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: EncryptionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imgpipe:index:Encryption", name, None, opts)
        key = aws.kms.Key(
            f"{name}-key",
            description=f"imgpipe stack key ({args.alias})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=policy_json(key_policy, args.account_id),
            tags=args.tags,
            opts=child(self, protect=args.production),
        )
        aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/{args.alias}",
            target_key_id=key.key_id,
            opts=child(self),
        )
        self.key_arn = key.arn
        self.register_outputs({"key_arn": self.key_arn})
