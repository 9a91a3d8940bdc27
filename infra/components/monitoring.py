"""The ops topic, the alarms (DLQ depth > 0, function errors, function throttles, age of the
oldest queued message) and the stack's CloudWatch dashboard."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._util import child, policy_json
from infra.components.dashboard import DashboardMetrics, dashboard_body
from infra.policies import topic_policy
from infra.settings import Alarms

#: Without a customer-managed key the ops topic stays unencrypted: CloudWatch cannot publish to a
#: topic encrypted with the AWS-managed aws/sns key (its alarms would silently never arrive).
#: Alarm messages carry alarm names and metric values only. The policy pack accepts this tag.
SSE_EXEMPT_TAG = "imgpipe:sse-exempt"


@dataclass
class MonitoringArgs:
    account_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str] | None
    alarm_email: str | None
    dlq_name: pulumi.Input[str]
    function_name: pulumi.Input[str]
    alarms: Alarms
    tags: dict[str, str]
    #: the main queue: an alarm on its oldest message's age (a stuck pipeline long before the DLQ
    #: fills) and a dashboard row; None leaves both out
    queue_name: pulumi.Input[str] | None = None
    #: the stack's dashboard (None: no dashboard)
    dashboard: DashboardMetrics | None = None


class Monitoring(pulumi.ComponentResource):
    ops_topic_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imgpipe:index:Monitoring", name, None, opts)
        tags = dict(args.tags)
        if args.kms_key_arn is None:
            tags[SSE_EXEMPT_TAG] = "cloudwatch-alarms"
        ops = aws.sns.Topic(
            f"{name}-ops-topic",
            kms_master_key_id=args.kms_key_arn,
            tags=tags,
            opts=child(self),
        )
        aws.sns.TopicPolicy(
            f"{name}-ops-topic-policy",
            arn=ops.arn,
            policy=policy_json(
                lambda arn, account: topic_policy(arn, account, "cloudwatch.amazonaws.com"),
                ops.arn,
                args.account_id,
            ),
            opts=child(self),
        )
        if args.alarm_email:
            aws.sns.TopicSubscription(
                f"{name}-ops-email",
                topic=ops.arn,
                protocol="email",
                endpoint=args.alarm_email,
                opts=child(self),
            )
        actions = [ops.arn]
        aws.cloudwatch.MetricAlarm(
            f"{name}-dlq-not-empty",
            alarm_description="Messages reached the dead-letter queue: images that keep failing.",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": args.dlq_name},
            statistic="Maximum",
            period=60,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            ok_actions=actions,
            tags=args.tags,
            opts=child(self),
        )
        for metric, threshold in (
            ("Errors", args.alarms.errors_threshold),
            ("Throttles", args.alarms.throttles_threshold),
        ):
            aws.cloudwatch.MetricAlarm(
                f"{name}-function-{metric.lower()}",
                alarm_description=f"Analyzer function {metric.lower()} >= {threshold}.",
                namespace="AWS/Lambda",
                metric_name=metric,
                dimensions={"FunctionName": args.function_name},
                statistic="Sum",
                period=args.alarms.period_seconds,
                evaluation_periods=args.alarms.evaluation_periods,
                threshold=threshold,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
                tags=args.tags,
                opts=child(self),
            )
        if args.queue_name is not None:
            aws.cloudwatch.MetricAlarm(
                f"{name}-queue-oldest-message",
                alarm_description=(
                    f"The oldest queued image has waited >= {args.alarms.queue_age_seconds} s: the "
                    "pipeline is stuck or falling behind (long before the DLQ fills)."
                ),
                namespace="AWS/SQS",
                metric_name="ApproximateAgeOfOldestMessage",
                dimensions={"QueueName": args.queue_name},
                statistic="Maximum",
                period=60,
                evaluation_periods=args.alarms.evaluation_periods,
                threshold=args.alarms.queue_age_seconds,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
                tags=args.tags,
                opts=child(self),
            )
        self.dashboard_name: pulumi.Output[str] | None = None
        if args.dashboard is not None:
            metrics = args.dashboard
            region = aws.get_region_output().region
            body = pulumi.Output.all(
                region, args.function_name, args.queue_name or "", args.dlq_name
            ).apply(lambda v: dashboard_body(metrics, region=v[0], function_name=v[1],
                                             queue_name=v[2], dlq_name=v[3]))
            dashboard = aws.cloudwatch.Dashboard(
                f"{name}-dashboard",
                dashboard_name=metrics.dashboard_name,
                dashboard_body=body,
                opts=child(self),
            )
            self.dashboard_name = dashboard.dashboard_name
        self.ops_topic_arn = ops.arn
        self.register_outputs({"ops_topic_arn": self.ops_topic_arn,
                               "dashboard_name": self.dashboard_name})
