"""Access for reviewers: one managed IAM policy to attach to the people (or their role) who decide
images under review with ``imgpipe review`` (exported as ``reviewer_policy_arn``)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._util import child, policy_json
from infra.policies import ReviewerGrants, reviewer_policy

#: Where ``imgpipe review`` writes its decisions (imgpipe.review.ReviewLayout.decisions_prefix).
DECISIONS_PREFIX = "reviews/"


@dataclass
class ReviewAccessArgs:
    bucket_arn: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    output_prefix: str
    results_prefix: str
    kms_key_arn: pulumi.Input[str] | None
    tags: dict[str, str]


class ReviewAccess(pulumi.ComponentResource):
    policy_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ReviewAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imgpipe:index:ReviewAccess", name, None, opts)
        policy = aws.iam.Policy(
            f"{name}-reviewer-policy",
            description="Decide images under review (imgpipe review): read the queue, move "
                        "decided images, record and announce decisions.",
            policy=policy_json(
                lambda bucket, topic, key: reviewer_policy(ReviewerGrants(
                    bucket_arn=bucket, output_prefix=args.output_prefix,
                    results_prefix=args.results_prefix, decisions_prefix=DECISIONS_PREFIX,
                    topic_arn=topic, kms_key_arn=key or None)),
                args.bucket_arn, args.topic_arn, args.kms_key_arn or "",
            ),
            tags=args.tags,
            opts=child(self),
        )
        self.policy_arn = policy.arn
        self.register_outputs({"policy_arn": self.policy_arn})
