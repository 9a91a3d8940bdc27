"""Policy documents as small pure functions (no pulumi here): IAM, bucket, queue and key policies.

Every document is a plain dict; components render it with ``Output.all(...).apply(json.dumps)``.
Keeping them pure lets tests (and the moto least-privilege proof) use exactly what the program
deploys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Statement = dict[str, Any]
Document = dict[str, Any]

#: The Sid of the Rekognition actions granted on "*" (Detect* without a project version support
#: no resource-level permissions).
UNSCOPED_REKOGNITION_SID = "RekognitionNeededByRules"


def statement(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[str],
    *,
    effect: str = "Allow",
    principals: dict[str, Any] | None = None,
    conditions: dict[str, dict[str, Any]] | None = None,
) -> Statement:
    """One policy statement; actions and resources are kept in the order given."""
    stmt: Statement = {"Sid": sid, "Effect": effect}
    if principals is not None:
        stmt["Principal"] = principals
    stmt["Action"] = list(actions)
    stmt["Resource"] = list(resources)
    if conditions:
        stmt["Condition"] = conditions
    return stmt


def document(*statements: Statement) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def rekognition_statements(grants: Mapping[str, Sequence[str]]) -> list[Statement]:
    """The Rekognition statements for ``action -> resources``.

    Actions needed on "*" share one statement (:data:`UNSCOPED_REKOGNITION_SID`); every scoped
    action gets its own statement naming exactly its project versions, sorted and once each. An
    action needed both unscoped and scoped is granted on "*" only: "*" already covers every model.
    """
    unscoped = sorted(action for action, resources in grants.items() if "*" in resources)
    stmts = [statement(UNSCOPED_REKOGNITION_SID, unscoped, ["*"])] if unscoped else []
    for action in sorted(set(grants) - set(unscoped)):
        resources = sorted(set(grants[action]))
        if resources:
            stmts.append(statement(scoped_sid(action), [action], resources))
    return stmts


def scoped_sid(action: str) -> str:
    """``rekognition:DetectCustomLabels`` -> ``RekognitionDetectCustomLabelsOnProjectVersions``."""
    service, _, name = action.partition(":")
    return re.sub(r"[^A-Za-z0-9]", "", f"{service.capitalize()}{name}OnProjectVersions")


@dataclass(frozen=True, slots=True)
class FunctionGrants:
    """Everything the analyzer function may touch (plain ARNs/names)."""

    bucket_arn: str
    input_prefix: str
    output_prefix: str
    results_prefix: str
    topic_arn: str
    queue_arn: str
    table_arn: str
    log_group_arn: str
    #: IAM action -> the resources the stack's rules need it on, as
    #: :func:`rules.analyses.iam_grants` gives it: ``("*",)`` or project version ARNs
    rekognition: Mapping[str, Sequence[str]]
    kms_key_arn: str | None = None


def function_policy(g: FunctionGrants) -> Document:
    """Least privilege for the analyzer: each statement names its resources exactly."""
    inputs = f"{g.bucket_arn}/{g.input_prefix}*"
    outputs = f"{g.bucket_arn}/{g.output_prefix}*"
    results = f"{g.bucket_arn}/{g.results_prefix}*"
    stmts = [
        statement("ReadInputImages", ["s3:GetObject"], [inputs]),
        statement("DeleteAnalysedInputImages", ["s3:DeleteObject"], [inputs]),
        # a tagged CopyObject needs PutObjectTagging on the destination
        statement("WriteAnalysedImages", ["s3:PutObject", "s3:PutObjectTagging"], [outputs]),
        statement("WriteResultRecords", ["s3:PutObject"], [results]),
        # a redelivery after a crash between the source delete and the announcement reads the
        # record back to find the verdict and whether it was announced
        statement("ReadResultRecords", ["s3:GetObject"], [results]),
        # HeadObject of the destination on a redelivery: is the copy already there?
        statement("CheckAnalysedImages", ["s3:GetObject"], [outputs]),
        # when the record or the source delete keeps failing after the copy, the copy is removed
        # again so the image stays in exactly one place (images/, its message in the DLQ)
        statement("UndoUnfinishedCopy", ["s3:DeleteObject"], [outputs]),
        # re-judging (analyzer/rejudge.py) moves a record whose verdict changed to the new
        # verdict's folder: the old record is deleted once the new one is written
        statement("MoveRejudgedRecords", ["s3:DeleteObject"], [results]),
        # re-judging an archived copy (GLACIER/DEEP_ARCHIVE) requests its restore before the move
        statement("RestoreArchivedCopies", ["s3:RestoreObject"], [outputs]),
        # HeadObject on a missing key answers 404 (not 403) only with ListBucket; the analyzer
        # relies on that to see that a copy or a record does not exist yet.
        statement(
            "HeadOfMissingKeyAnswers404",
            ["s3:ListBucket"],
            [g.bucket_arn],
        ),
    ]
    stmts += rekognition_statements(g.rekognition)
    stmts += [
        statement("PublishVerdicts", ["sns:Publish"], [g.topic_arn]),
        statement(
            "ConsumeQueue",
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
             "sqs:GetQueueAttributes"],
            [g.queue_arn],
        ),
        statement(
            "IdempotencyRecords",
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            [g.table_arn],
        ),
        statement("OwnLogGroup", ["logs:CreateLogStream", "logs:PutLogEvents"],
                  [f"{g.log_group_arn}:*"]),
    ]
    if g.kms_key_arn:
        stmts.append(
            statement("UseStackKey", ["kms:Decrypt", "kms:GenerateDataKey"], [g.kms_key_arn])
        )
    return document(*stmts)


@dataclass(frozen=True, slots=True)
class ReviewerGrants:
    """What a reviewer (``imgpipe review``, the review page) may touch (plain ARNs)."""

    bucket_arn: str
    output_prefix: str
    results_prefix: str
    decisions_prefix: str
    topic_arn: str
    kms_key_arn: str | None = None


def reviewer_policy(g: ReviewerGrants) -> Document:
    """Least privilege for people deciding images under review: read what waits, write the
    decision, move the image and its record out of review, announce. Never uploads (images/),
    never deletes a decided image or a decision."""
    b, out, res, dec = g.bucket_arn, g.output_prefix, g.results_prefix, g.decisions_prefix
    decided = [f"{b}/{out}success/*", f"{b}/{out}failure/*"]
    stmts = [
        # list the queue; HeadObject of a missing key answers 404 (not 403) only with ListBucket
        statement("ListTheBucket", ["s3:ListBucket"], [b]),
        statement("ReadImagesRecordsAndDecisions", ["s3:GetObject", "s3:GetObjectTagging"],
                  [f"{b}/{out}*", f"{b}/{res}*", f"{b}/{dec}*"]),
        # a tagged CopyObject needs PutObjectTagging on the destination
        statement("MoveDecidedImages", ["s3:PutObject", "s3:PutObjectTagging"], decided),
        statement("WriteRecordsAndDecisions", ["s3:PutObject"],
                  [f"{b}/{res}success/*", f"{b}/{res}failure/*", f"{b}/{dec}*"]),
        statement("LeaveReview", ["s3:DeleteObject"],
                  [f"{b}/{out}review/*", f"{b}/{res}review/*"]),
        # a publish that provably failed releases its at-most-once guard so a retry announces
        statement("ReleaseAnnouncementGuard", ["s3:DeleteObject"], [f"{b}/{dec}*.announced"]),
        statement("AnnounceDecisions", ["sns:Publish"], [g.topic_arn]),
        # not here: cloudwatch:PutMetricData (the dashboard's backlog gauge) has no resource-level
        # permissions, and the policy pack refuses resource "*"; the review tool's metrics are
        # best effort (docs/review.md says how to grant them)
    ]
    if g.kms_key_arn:
        stmts.append(
            statement("UseStackKey", ["kms:Decrypt", "kms:GenerateDataKey"], [g.kms_key_arn])
        )
    return document(*stmts)


def lambda_assume_role(account_id: str) -> Document:
    return document(
        statement(
            "LambdaAssumesRole",
            ["sts:AssumeRole"],
            [],
            principals={"Service": "lambda.amazonaws.com"},
            conditions={"StringEquals": {"aws:SourceAccount": account_id}},
        )
    )


def tls_only_bucket_policy(bucket_arn: str) -> Document:
    """Deny every request that is not made over TLS."""
    return document(
        statement(
            "DenyInsecureTransport",
            ["s3:*"],
            [bucket_arn, f"{bucket_arn}/*"],
            effect="Deny",
            principals={"AWS": "*"},
            conditions={"Bool": {"aws:SecureTransport": "false"}},
        )
    )


def queue_policy(queue_arn: str, bucket_arn: str, account_id: str) -> Document:
    """Only this bucket, in this account, may send to the queue."""
    return document(
        statement(
            "OnlyThisBucketSends",
            ["sqs:SendMessage"],
            [queue_arn],
            principals={"Service": "s3.amazonaws.com"},
            conditions={
                "ArnEquals": {"aws:SourceArn": bucket_arn},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        )
    )


def topic_policy(topic_arn: str, account_id: str, publisher_service: str | None = None) -> Document:
    """Account principals manage the topic; optionally a service (CloudWatch) may publish."""
    stmts = [
        statement(
            "AccountOwnsTopic",
            ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes"],
            [topic_arn],
            principals={"AWS": f"arn:aws:iam::{account_id}:root"},
        )
    ]
    if publisher_service:
        stmts.append(
            statement(
                "ServicePublishes",
                ["sns:Publish"],
                [topic_arn],
                principals={"Service": publisher_service},
                conditions={"StringEquals": {"aws:SourceAccount": account_id}},
            )
        )
    return document(*stmts)


def key_policy(account_id: str) -> Document:
    """The stack key: the account administers it through IAM; S3 (event notifications into the
    encrypted queue) and CloudWatch (alarms into the encrypted ops topic) may use it — the
    AWS-managed aws/sqs and aws/sns keys cannot grant them that."""
    key_use = ["kms:GenerateDataKey", "kms:Decrypt"]
    return document(
        statement(
            "AccountAdministersKeyThroughIam",
            ["kms:*"],
            ["*"],
            principals={"AWS": f"arn:aws:iam::{account_id}:root"},
        ),
        statement(
            "S3SendsEventsToEncryptedQueue",
            key_use,
            ["*"],
            principals={"Service": "s3.amazonaws.com"},
            conditions={"StringEquals": {"aws:SourceAccount": account_id}},
        ),
        statement(
            "CloudWatchPublishesAlarmsToEncryptedTopic",
            key_use,
            ["*"],
            principals={"Service": "cloudwatch.amazonaws.com"},
            conditions={"StringEquals": {"aws:SourceAccount": account_id}},
        ),
    )
