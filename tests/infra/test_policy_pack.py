"""Every CrossGuard policy passes on the real program (dev and prod) and fires on a deliberately
bad resource. Policies are called directly (``policy.validate(args, report_violation)``)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import (
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from infra.mockrun import ProgramRun
from policy.policies import POLICIES

POLICY = {p.name: p for p in POLICIES}
CUSTOM_MODELS = "tests/events/rules/custom-models.yaml"
MODEL = "arn:aws:rekognition:eu-west-1:123456789012:project/sneakers/version/sneakers.2026-11-30/1764460800000"
ADAPTER = "arn:aws:rekognition:eu-west-1:123456789012:project/audience/version/audience.2026-10-15/1760486400000"


def _opts() -> PolicyResourceOptions:
    """Resource options are not used by these policies."""
    return None  # type: ignore[return-value]


def resources_of(run: ProgramRun) -> list[PolicyResource]:
    """The run's resources as CrossGuard sees them after an update (props = outputs)."""
    return [
        PolicyResource(
            resource_type=r.type,
            props=copy.deepcopy(r.outputs),
            urn=f"urn:pulumi:{run.stack}::image-pipeline::{r.type}::{r.name}",
            name=r.name,
            opts=_opts(),
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
        for r in run.resources
        if not r.type.startswith("imgpipe:")
    ]


def violations(name: str, resources: list[PolicyResource]) -> list[str]:
    policy = POLICY[name]
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    if isinstance(policy, ResourceValidationPolicy):
        for r in resources:
            policy.validate(
                ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, _opts(), None),
                report,
            )
    else:
        policy.validate(StackValidationArgs(resources), report)
    return found


def _find(resources: list[PolicyResource], type_: str, name_part: str = "") -> PolicyResource:
    return next(r for r in resources if r.resource_type == type_ and name_part in r.name)


def test_pack_has_every_promised_policy() -> None:
    assert set(POLICY) == {
        "s3-public-access-blocked", "s3-encryption-at-rest", "encryption-at-rest", "s3-tls-only",
        "iam-no-wildcards", "sqs-dlq-configured", "sqs-visibility-timeout",
        "s3-lifecycle-present",
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(POLICY))
def test_policy_passes_on_the_real_program(name: str, run: ProgramRun) -> None:
    assert violations(name, resources_of(run)) == []


def _set(type_: str, prop: str, value: Any, name_part: str = "") -> Callable[[list[PolicyResource]], None]:
    def mutate(resources: list[PolicyResource]) -> None:
        target = _find(resources, type_, name_part)
        if value is _DELETE:
            target.props.pop(prop, None)  # type: ignore[attr-defined]
        else:
            target.props[prop] = value  # type: ignore[index]

    return mutate


_DELETE = object()


def _drop(type_: str) -> Callable[[list[PolicyResource]], None]:
    def mutate(resources: list[PolicyResource]) -> None:
        resources[:] = [r for r in resources if r.resource_type != type_]

    return mutate


def _edit_policy(edit: Callable[[dict[str, Any]], None]) -> Callable[[list[PolicyResource]], None]:
    def mutate(resources: list[PolicyResource]) -> None:
        target = _find(resources, "aws:iam/rolePolicy:RolePolicy")
        doc = json.loads(target.props["policy"])
        edit(doc)
        target.props["policy"] = json.dumps(doc)  # type: ignore[index]

    return mutate


def _add_stmt(stmt: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["Statement"].append(stmt)


def _both(*mutations: Callable[[list[PolicyResource]], None]) -> Callable[[list[PolicyResource]], None]:
    def mutate(resources: list[PolicyResource]) -> None:
        for m in mutations:
            m(resources)

    return mutate


def _lifecycle_without_transitions(resources: list[PolicyResource]) -> None:
    target = _find(resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    target.props["rules"] = [r for r in target.props["rules"]  # type: ignore[index]
                             if not r.get("transitions")]


BAD = {
    "public access block missing a flag": (
        "s3-public-access-blocked",
        _set("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "restrictPublicBuckets",
             False)),
    "no public access block": (
        "s3-public-access-blocked",
        _drop("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")),
    "bucket without default encryption": (
        "s3-encryption-at-rest",
        _drop("aws:s3/bucketServerSideEncryptionConfiguration:"
              "BucketServerSideEncryptionConfiguration")),
    "queue unencrypted": (
        "encryption-at-rest",
        _both(_set("aws:sqs/queue:Queue", "sqsManagedSseEnabled", _DELETE, "queueing-queue"),
              _set("aws:sqs/queue:Queue", "kmsMasterKeyId", _DELETE, "queueing-queue"))),
    "queue on aws/sqs key": (
        "encryption-at-rest",
        _set("aws:sqs/queue:Queue", "kmsMasterKeyId", "alias/aws/sqs", "queueing-dlq")),
    "topic unencrypted": (
        "encryption-at-rest",
        _set("aws:sns/topic:Topic", "kmsMasterKeyId", _DELETE, "notification-topic")),
    "table without sse": (
        "encryption-at-rest",
        _set("aws:dynamodb/table:Table", "serverSideEncryption", {"enabled": False})),
    "bucket policy missing": ("s3-tls-only", _drop("aws:s3/bucketPolicy:BucketPolicy")),
    "bucket policy allowing plain http": (
        "s3-tls-only",
        _set("aws:s3/bucketPolicy:BucketPolicy", "policy",
             json.dumps({"Version": "2012-10-17", "Statement": []}))),
    "wildcard action": (
        "iam-no-wildcards",
        _edit_policy(_add_stmt({"Effect": "Allow", "Action": ["s3:*"],
                                "Resource": ["arn:aws:s3:::x/*"]}))),
    "wildcard resource": (
        "iam-no-wildcards",
        _edit_policy(_add_stmt({"Effect": "Allow", "Action": ["sns:Publish"], "Resource": "*"}))),
    "logs star like the seed": (
        "iam-no-wildcards",
        _edit_policy(_add_stmt({"Effect": "Allow", "Action": "logs:*", "Resource": "*"}))),
    "any custom labels model": (
        "iam-no-wildcards",
        _edit_policy(_add_stmt({"Effect": "Allow", "Action": ["rekognition:DetectCustomLabels"],
                                "Resource": "*"}))),
    "wildcard project version ARN": (
        "iam-no-wildcards",
        _edit_policy(_add_stmt({"Effect": "Allow", "Action": ["rekognition:DetectCustomLabels"],
                                "Resource": ["arn:aws:rekognition:*:*:project/*"]}))),
    "every version of an adapter": (
        "iam-no-wildcards",
        _edit_policy(_add_stmt({"Effect": "Allow", "Action": "rekognition:DetectModerationLabels",
                                "Resource": [f"{ADAPTER.rsplit('/', 2)[0]}/*"]}))),
    "queue without dlq": (
        "sqs-dlq-configured",
        _set("aws:sqs/queue:Queue", "redrivePolicy", _DELETE, "queueing-queue")),
    "visibility below 6x timeout": (
        "sqs-visibility-timeout",
        _set("aws:sqs/queue:Queue", "visibilityTimeoutSeconds", 30, "queueing-queue")),
    "no lifecycle": (
        "s3-lifecycle-present",
        _drop("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")),
    "lifecycle without archive": ("s3-lifecycle-present", _lifecycle_without_transitions),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_policy_fires_on_a_bad_resource(case: str, run: ProgramRun) -> None:
    # GIVEN the real program's resources with one thing broken
    name, mutate = BAD[case]
    resources = resources_of(run)
    mutate(resources)
    # WHEN the policy runs / THEN it reports the broken thing
    assert violations(name, resources) != []


def test_rekognition_star_is_the_only_allowed_star(run: ProgramRun) -> None:
    resources = resources_of(run)
    _edit_policy(_add_stmt({"Effect": "Allow", "Action": ["rekognition:DetectText"],
                            "Resource": "*"}))(resources)
    assert violations("iam-no-wildcards", resources) == []


def test_scoped_rekognition_statements_pass_and_wildcard_models_are_named(
    run_with: Callable[..., ProgramRun],
) -> None:
    # GIVEN the program with rules calling a Custom Labels model and a moderation adapter
    run = run_with("dev", rulesFile=CUSTOM_MODELS)
    resources = resources_of(run)
    doc = json.loads(_find(resources, "aws:iam/rolePolicy:RolePolicy").props["policy"])
    scoped = [s for s in doc["Statement"] if s["Sid"].endswith("OnProjectVersions")]
    assert [s["Resource"] for s in scoped] == [[MODEL], [ADAPTER]]
    # THEN every policy passes on it
    for name in POLICY:
        assert violations(name, resources) == [], name
    # AND a project wildcard in place of the model is refused, naming the statement and resource
    wildcard = "arn:aws:rekognition:*:*:project/*"
    scoped[0]["Resource"] = [wildcard]
    _find(resources, "aws:iam/rolePolicy:RolePolicy").props["policy"] = json.dumps(doc)  # type: ignore[index]
    assert violations("iam-no-wildcards", resources) == [
        f"RekognitionDetectCustomLabelsOnProjectVersions: wildcard resource {wildcard!r} for "
        "rekognition:DetectCustomLabels: name each model's project version ARN"
    ]


def test_exempt_ops_topic_needs_the_tag(dev: ProgramRun) -> None:
    resources = resources_of(dev)
    ops = _find(resources, "aws:sns/topic:Topic", "ops-topic")
    ops.props["tags"] = {}  # type: ignore[index]
    assert violations("encryption-at-rest", resources) == ["topic is not encrypted (set kmsMasterKeyId)"]


def test_visibility_message_carries_the_arithmetic(prod: ProgramRun) -> None:
    resources = resources_of(prod)
    _set("aws:sqs/queue:Queue", "visibilityTimeoutSeconds", 700, "queueing-queue")(resources)
    [message] = violations("sqs-visibility-timeout", resources)
    assert message.endswith("visibility timeout 700 s < 6 x function timeout 120 s + batching "
                            "window 5 s = 725 s")
