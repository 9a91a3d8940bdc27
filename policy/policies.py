"""imgpipe's CrossGuard policies: the security promises of the stack, as code.

Pure functions over resource props (the camelCase shape CrossGuard passes, which is also what
Pulumi mocks record), wrapped in ``ResourceValidationPolicy``/``StackValidationPolicy`` objects.
``__main__.py`` builds the ``PolicyPack`` (which starts a gRPC server, so only there); tests call
``policy.validate(args, report_violation)`` directly.

Resources are related by property dependencies when the engine provides them (preview), else by
value (names/ARNs, known after an update and under mocks).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
QUEUE = "aws:sqs/queue:Queue"
REDRIVE_ALLOW = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"
TOPIC = "aws:sns/topic:Topic"
TABLE = "aws:dynamodb/table:Table"
FUNCTION = "aws:lambda/function:Function"
ESM = "aws:lambda/eventSourceMapping:EventSourceMapping"
IAM_POLICY_TYPES = {
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
}
#: The ops topic may stay unencrypted without a customer-managed key (CloudWatch cannot use
#: aws/sns); the program marks it with this tag.
SSE_EXEMPT_TAG = "imgpipe:sse-exempt"
SSE_EXEMPT_VALUE = "cloudwatch-alarms"
#: Rekognition Detect* APIs have no resource-level permissions: "*" is the only resource.
RESOURCE_STAR_ALLOWED_PREFIX = "rekognition:Detect"
#: ... except when they call a custom model (a project version): then the resource is its ARN.
#: DetectCustomLabels always names one, so "*" would let the function call any model; a
#: DetectModerationLabels grant on an adapter names the adapter (unscoped it needs "*").
REKOGNITION = "rekognition:"
NEVER_ON_STAR = frozenset({"rekognition:DetectCustomLabels"})

Props = Mapping[str, Any]


# ---- helpers -------------------------------------------------------------------------------


def _of_type(resources: Iterable[PolicyResource], type_: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == type_]


def _refers_to(resource: PolicyResource, prop: str, target: PolicyResource, *keys: str) -> bool:
    """True when ``resource.props[prop]`` points at ``target`` (dependency, or equal value)."""
    deps = (resource.property_dependencies or {}).get(prop) or []
    if any(d.urn == target.urn for d in deps):
        return True
    value = resource.props.get(prop)
    if value is None:
        return False
    return any(target.props.get(k) == value for k in keys if target.props.get(k) is not None)


def _companions(
    resources: list[PolicyResource], type_: str, bucket: PolicyResource
) -> list[PolicyResource]:
    return [
        r for r in _of_type(resources, type_) if _refers_to(r, "bucket", bucket, "bucket", "id")
    ]


def _document(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            doc = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return doc if isinstance(doc, dict) else {}
    return dict(value) if isinstance(value, Mapping) else {}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _statements(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _as_list(doc.get("Statement")) if isinstance(s, dict)]


# ---- resource policies ---------------------------------------------------------------------


def check_encryption_at_rest(resource_type: str, props: Props) -> list[str]:
    """SQS, SNS and DynamoDB resources must be encrypted (S3 is checked per bucket, below)."""
    if resource_type == QUEUE:
        key = props.get("kmsMasterKeyId")
        if key == "alias/aws/sqs":
            return ["queue uses the AWS-managed aws/sqs key: S3 cannot send events to it; use "
                    "sqsManagedSseEnabled or a customer-managed key"]
        if not key and props.get("sqsManagedSseEnabled") is not True:
            return ["queue is not encrypted (set sqsManagedSseEnabled or kmsMasterKeyId)"]
    elif resource_type == TOPIC:
        exempt = (props.get("tags") or {}).get(SSE_EXEMPT_TAG) == SSE_EXEMPT_VALUE
        if not props.get("kmsMasterKeyId") and not exempt:
            return ["topic is not encrypted (set kmsMasterKeyId)"]
    elif resource_type == TABLE:
        sse = props.get("serverSideEncryption") or {}
        if sse.get("enabled") is not True:
            return ["table has no server-side encryption setting (serverSideEncryption.enabled)"]
    return []


def check_iam_no_wildcards(resource_type: str, props: Props) -> list[str]:
    """No wildcard action anywhere; resource "*" only for Rekognition's Detect* APIs (never for
    DetectCustomLabels); Rekognition resources that are ARNs name each model exactly."""
    if resource_type not in IAM_POLICY_TYPES:
        return []
    problems = []
    for index, stmt in enumerate(_statements(_document(props.get("policy")))):
        if stmt.get("Effect") != "Allow":
            continue
        sid = stmt.get("Sid") or f"Statement[{index}]"
        if "NotAction" in stmt or "NotResource" in stmt:
            problems.append(f"{sid}: NotAction/NotResource grants more than it names")
        actions = [str(a) for a in _as_list(stmt.get("Action"))]
        problems += [f"{sid}: wildcard action {a!r}" for a in actions if "*" in a]
        resources = [str(r) for r in _as_list(stmt.get("Resource"))]
        if "*" in resources and not all(
            a.startswith(RESOURCE_STAR_ALLOWED_PREFIX) and a not in NEVER_ON_STAR for a in actions
        ):
            problems.append(f"{sid}: resource '*' for {', '.join(actions)}")
        if any(a.startswith(REKOGNITION) for a in actions):
            problems += [
                f"{sid}: wildcard resource {r!r} for {', '.join(actions)}: name each model's "
                "project version ARN"
                for r in resources if r != "*" and ("*" in r or "?" in r)
            ]
    return problems


# ---- stack policies ------------------------------------------------------------------------


def check_public_access_blocked(resources: list[PolicyResource]) -> list[tuple[str, str]]:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    found = []
    for bucket in _of_type(resources, BUCKET):
        blocks = _companions(resources, PUBLIC_ACCESS_BLOCK, bucket)
        if not any(all(b.props.get(f) is True for f in flags) for b in blocks):
            found.append((f"bucket {bucket.name} has no public access block with all four "
                          "settings true", bucket.urn))
    return found


def check_bucket_encryption(resources: list[PolicyResource]) -> list[tuple[str, str]]:
    found = []
    for bucket in _of_type(resources, BUCKET):
        ok = False
        for config in _companions(resources, BUCKET_SSE, bucket):
            for rule in _as_list(config.props.get("rules")):
                default = (rule or {}).get("applyServerSideEncryptionByDefault") or {}
                if default.get("sseAlgorithm") in ("AES256", "aws:kms", "aws:kms:dsse"):
                    ok = True
        if not ok:
            found.append((f"bucket {bucket.name} has no default encryption", bucket.urn))
    return found


def _denies_insecure_transport(doc: Mapping[str, Any], bucket_arn: str | None) -> bool:
    for stmt in _statements(doc):
        condition = (stmt.get("Condition") or {}).get("Bool") or {}
        if stmt.get("Effect") != "Deny" or str(condition.get("aws:SecureTransport")) != "false":
            continue
        if "s3:*" not in _as_list(stmt.get("Action")) and "*" not in _as_list(stmt.get("Action")):
            continue
        resources = _as_list(stmt.get("Resource"))
        if bucket_arn is None or f"{bucket_arn}/*" in resources:
            return True
    return False


def check_tls_only(resources: list[PolicyResource]) -> list[tuple[str, str]]:
    found = []
    for bucket in _of_type(resources, BUCKET):
        policies = _companions(resources, BUCKET_POLICY, bucket)
        arn = bucket.props.get("arn")
        if not any(_denies_insecure_transport(_document(p.props.get("policy")), arn)
                   for p in policies):
            found.append((f"bucket {bucket.name} has no policy denying non-TLS requests "
                          "(aws:SecureTransport = false)", bucket.urn))
    return found


def check_lifecycle(resources: list[PolicyResource]) -> list[tuple[str, str]]:
    found = []
    for bucket in _of_type(resources, BUCKET):
        rules = [
            rule
            for config in _companions(resources, LIFECYCLE, bucket)
            for rule in _as_list(config.props.get("rules"))
            if (rule or {}).get("status") == "Enabled"
        ]
        if not any(r.get("transitions") for r in rules):
            found.append((f"bucket {bucket.name} has no enabled lifecycle transition (archive)",
                          bucket.urn))
        if not any(r.get("abortIncompleteMultipartUpload") for r in rules):
            found.append((f"bucket {bucket.name} does not abort incomplete multipart uploads",
                          bucket.urn))
    return found


def _redrive(queue: PolicyResource) -> dict[str, Any]:
    return _document(queue.props.get("redrivePolicy"))


def check_dlq(resources: list[PolicyResource]) -> list[tuple[str, str]]:
    """Every queue has a DLQ (redrivePolicy), or is itself the DLQ of another queue."""
    queues = _of_type(resources, QUEUE)
    targets = {_redrive(q).get("deadLetterTargetArn") for q in queues} - {None}
    found = []
    for queue in queues:
        redrive = _redrive(queue)
        if redrive.get("deadLetterTargetArn") and int(redrive.get("maxReceiveCount") or 0) >= 1:
            continue
        is_dlq = queue.props.get("arn") in targets or any(
            _refers_to(q, "redrivePolicy", queue) for q in queues
        ) or any(
            _refers_to(a, "queueUrl", queue, "url", "id")
            for a in _of_type(resources, REDRIVE_ALLOW)
        )
        if not is_dlq:
            found.append((f"queue {queue.name} has no dead-letter queue (redrivePolicy with "
                          "deadLetterTargetArn and maxReceiveCount)", queue.urn))
    return found


def check_visibility_timeout(resources: list[PolicyResource]) -> list[tuple[str, str]]:
    """A queue feeding a function needs visibility >= 6 x function timeout + batching window."""
    queues = _of_type(resources, QUEUE)
    functions = _of_type(resources, FUNCTION)
    found = []
    for esm in _of_type(resources, ESM):
        sources = [q for q in queues if _refers_to(esm, "eventSourceArn", q, "arn")]
        if not sources:  # unknown at preview: check every queue that has a DLQ
            sources = [q for q in queues if _redrive(q)]
        targets = [f for f in functions if _refers_to(esm, "functionName", f, "arn", "name")]
        timeout = max(
            (int(f.props.get("timeout") or 3) for f in (targets or functions)), default=3
        )
        window = int(esm.props.get("maximumBatchingWindowInSeconds") or 0)
        required = 6 * timeout + window
        for queue in sources:
            visibility = int(queue.props.get("visibilityTimeoutSeconds") or 30)
            if visibility < required:
                found.append((f"queue {queue.name} visibility timeout {visibility} s < 6 x "
                              f"function timeout {timeout} s + batching window {window} s = "
                              f"{required} s", queue.urn))
    return found


# ---- policy objects --------------------------------------------------------------------------


def _resource_policy(
    name: str, description: str, check: Callable[[str, Props], list[str]]
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, args.props):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _stack_policy(
    name: str, description: str, check: Callable[[list[PolicyResource]], list[tuple[str, str]]]
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message, urn in check(list(args.resources)):
            report_violation(message, urn)

    return StackValidationPolicy(
        name=name, description=description, validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


POLICIES = [
    _stack_policy("s3-public-access-blocked",
                  "Every bucket blocks public ACLs and policies.", check_public_access_blocked),
    _stack_policy("s3-encryption-at-rest",
                  "Every bucket has default encryption (SSE-S3 or SSE-KMS).",
                  check_bucket_encryption),
    _resource_policy("encryption-at-rest",
                     "Queues, topics and tables are encrypted at rest.", check_encryption_at_rest),
    _stack_policy("s3-tls-only",
                  "Every bucket policy denies requests without TLS.", check_tls_only),
    _resource_policy("iam-no-wildcards",
                     "No wildcard IAM actions or resources (resource * only for Rekognition "
                     "Detect* without a model; models named by their exact ARN).",
                     check_iam_no_wildcards),
    _stack_policy("sqs-dlq-configured",
                  "Every queue has a dead-letter queue or is one.", check_dlq),
    _stack_policy("sqs-visibility-timeout",
                  "Visibility >= 6 x function timeout + batching window.",
                  check_visibility_timeout),
    _stack_policy("s3-lifecycle-present",
                  "Every bucket archives by lifecycle and aborts stale multipart uploads.",
                  check_lifecycle),
]
