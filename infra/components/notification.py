"""The verdict topic and its subscribers, each with a filter policy on the ``verdict`` attribute."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._util import child
from infra.settings import Subscription

#: AWS-managed SNS key: fine for the Lambda publisher (same account, via SNS); the stack key is
#: used instead when ``kms: true``.
AWS_MANAGED_SNS_KEY = "alias/aws/sns"


def filter_policy(subscription: Subscription) -> str | None:
    if subscription.verdicts is None:
        return None
    return json.dumps({"verdict": list(subscription.verdicts)})


@dataclass
class NotificationArgs:
    kms_key_arn: pulumi.Input[str] | None
    subscriptions: Sequence[Subscription]
    tags: dict[str, str]


class Notification(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: NotificationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imgpipe:index:Notification", name, None, opts)
        topic = aws.sns.Topic(
            f"{name}-topic",
            kms_master_key_id=args.kms_key_arn if args.kms_key_arn is not None
            else AWS_MANAGED_SNS_KEY,
            tags=args.tags,
            opts=child(self),
        )
        for index, sub in enumerate(args.subscriptions):
            policy = filter_policy(sub)
            aws.sns.TopicSubscription(
                f"{name}-sub-{index}-{sub.protocol}",
                topic=topic.arn,
                protocol=sub.protocol,
                endpoint=sub.endpoint,
                filter_policy=policy,
                filter_policy_scope="MessageAttributes" if policy else None,
                opts=child(self),
            )
        self.topic_arn = topic.arn
        self.register_outputs({"topic_arn": self.topic_arn})
