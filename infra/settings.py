"""Typed stack settings: one pydantic model for everything a stack can configure.

Values come from the stack's config (``Pulumi.<stack>.yaml``, keys ``image-pipeline:<camelCase>``).
Every problem is reported like ``imgpipe rules validate`` does: ``FILE:LINE: path: message``, with
the line found in the stack file, so a typo can never reach ``pulumi up``.

This module does not import pulumi: the program passes the raw config map in.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from rules import Verdict

PROJECT = "image-pipeline"

#: CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip

#: Analyzer variables the program derives from other settings (docs/contracts.md §5 + the IAM scope).
MANAGED_ENVIRONMENT = frozenset(
    {
        "RULES_PATH", "TOPIC_ARN", "INPUT_PREFIX", "OUTPUT_PREFIX", "IDEMPOTENCY_TABLE",
        "BUCKET_NAME", "RESULTS_PREFIX", "MAX_WORKERS", "IDEMPOTENCY_TTL_SECONDS",
    }
)  # fmt: skip

StorageClass = Literal["GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"]
Protocol = Literal["email", "email-json", "sms", "https", "http", "sqs", "lambda", "firehose"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_ARN = re.compile(r"^arn:aws[a-z-]*:(sqs|lambda|firehose):[a-z0-9-]+:\d{12}:.+$")


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=False
    )


def _is_arn(endpoint: str) -> bool:
    return bool(_ARN.match(endpoint))


class Subscription(_Model):
    """One subscriber of the verdict topic."""

    protocol: Protocol
    endpoint: str = Field(min_length=1)
    #: Verdicts this subscriber receives (an SNS filter policy on the ``verdict`` attribute);
    #: None = every verdict.
    verdicts: list[Verdict] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _endpoint_matches_protocol(self) -> Subscription:
        checks: dict[str, Callable[[str], bool]] = {
            "email": lambda e: bool(_EMAIL.match(e)),
            "email-json": lambda e: bool(_EMAIL.match(e)),
            "sms": lambda e: bool(_E164.match(e)),
            "https": lambda e: e.startswith("https://"),
            "http": lambda e: e.startswith("http://"),
        }
        ok: Callable[[str], bool] = checks.get(self.protocol, _is_arn)
        if not ok(self.endpoint):
            expected = {
                "email": "an email address",
                "email-json": "an email address",
                "sms": "a phone number in E.164 form, e.g. +14155550100",
                "https": "an https:// URL",
                "http": "an http:// URL",
            }.get(self.protocol, f"the ARN of the {self.protocol} endpoint")
            raise ValueError(f"endpoint {self.endpoint!r} is not {expected}")
        if self.verdicts is not None and len(set(self.verdicts)) != len(self.verdicts):
            raise ValueError("verdicts must not repeat")
        return self


class Alarms(_Model):
    """CloudWatch alarm thresholds (the DLQ alarm always fires on depth > 0)."""

    errors_threshold: int = Field(default=1, ge=1)
    throttles_threshold: int = Field(default=1, ge=1)
    period_seconds: Literal[60, 300, 900, 3600] = 300
    evaluation_periods: int = Field(default=1, ge=1, le=24)
    #: Alarm when the oldest queued message is this old (seconds): a stuck pipeline.
    queue_age_seconds: int = Field(default=1800, ge=60, le=14 * 24 * 3600)


class StackSettings(_Model):
    """Everything a stack can configure. Defaults are the safe choice."""

    stack: str = Field(min_length=1)
    #: Rules YAML deployed with the function, relative to the project; default rules/<stack>.yaml.
    rules_file: str | None = None
    #: Production stacks keep data: no force-destroy, resources protected, table deletion protection.
    production: bool = False
    #: Dev convenience: let `pulumi destroy` empty the bucket. Refused when production is true.
    force_destroy: bool = False
    #: Customer-managed KMS key for the bucket, queues, topics and table (else AWS/SQS-managed keys).
    kms: bool = False

    # Queue -> function
    batch_size: int = Field(default=10, ge=1, le=10_000)
    batching_window_seconds: int = Field(default=0, ge=0, le=300)
    max_concurrency: int = Field(default=2, ge=2, le=1000)
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    queue_retention_seconds: int = Field(default=345_600, ge=60, le=1_209_600)
    dlq_retention_seconds: int = Field(default=1_209_600, ge=60, le=1_209_600)

    # Rekognition quota arithmetic (see docs/deploy.md, "maximum_concurrency")
    rekognition_tps_quota: float = Field(default=5.0, gt=0)
    rekognition_call_seconds: float = Field(default=0.4, gt=0, le=30)
    #: The analyzer's in-batch parallelism (MAX_WORKERS): images one invocation analyses at once.
    max_workers: int = Field(default=1, ge=1, le=64)

    # Function
    memory_mb: int = Field(default=512, ge=128, le=10_240)
    timeout_seconds: int = Field(default=60, ge=1, le=900)
    log_retention_days: int = 30
    #: Extra analyzer environment variables (validated against the analyzer's settings model).
    environment: dict[str, str] = Field(default_factory=dict)

    # Storage
    archive_days: int = Field(default=30, ge=1, le=36_500)
    archive_storage_class: StorageClass = "GLACIER"
    archive_min_object_bytes: int = Field(default=131_072, ge=0)
    noncurrent_version_days: int = Field(default=30, ge=1, le=36_500)
    abort_multipart_days: int = Field(default=7, ge=1, le=365)
    #: How long a finished image is remembered; a duplicate can arrive as long as a message lives.
    idempotency_ttl_seconds: int = Field(default=604_800, ge=60, le=31_536_000)

    # Notifications and alarms
    subscriptions: list[Subscription] = Field(default_factory=list)
    alarm_email: str | None = None
    alarms: Alarms = Field(default_factory=Alarms)

    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("log_retention_days")
    @classmethod
    def _retention_allowed(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            allowed = ", ".join(str(d) for d in LOG_RETENTION_DAYS)
            raise ValueError(f"CloudWatch Logs accepts only {allowed} days, got {value}")
        return value

    @field_validator("alarm_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag in value.items():
            if not 1 <= len(key) <= 128 or len(tag) > 256 or key.lower().startswith("aws:"):
                raise ValueError(f"tag {key!r}: keys are 1-128 chars, not aws:*, values <= 256")
        return value

    @model_validator(mode="after")
    def _cross_field(self) -> StackSettings:
        if self.batch_size > 10 and self.batching_window_seconds < 1:
            raise ValueError(
                "batchSize > 10 needs batchingWindowSeconds >= 1 (an SQS event source rule)"
            )
        if self.production and self.force_destroy:
            raise ValueError("forceDestroy is refused when production is true")
        if self.dlq_retention_seconds < self.queue_retention_seconds:
            raise ValueError(
                "dlqRetentionSeconds must be >= queueRetentionSeconds, or messages expire "
                "before they reach the DLQ"
            )
        if self.idempotency_ttl_seconds < self.queue_retention_seconds:
            raise ValueError(
                f"idempotencyTtlSeconds {self.idempotency_ttl_seconds} < queueRetentionSeconds "
                f"{self.queue_retention_seconds}: a late duplicate would be processed again"
            )
        if self.max_concurrency > self.max_safe_concurrency:
            raise ValueError(
                f"maxConcurrency {self.max_concurrency} x {self.images_in_flight} images in "
                f"flight (min(batchSize, maxWorkers)) / rekognitionCallSeconds "
                f"{self.rekognition_call_seconds:g} = {self.peak_rekognition_tps:g} calls/s per "
                f"API exceeds rekognitionTpsQuota {self.rekognition_tps_quota:g}; use "
                f"maxConcurrency <= {self.max_safe_concurrency} or fewer maxWorkers"
            )
        managed = sorted(set(self.environment) & MANAGED_ENVIRONMENT)
        if managed:
            raise ValueError(
                f"environment: {', '.join(managed)} are set by the program from other keys"
            )
        return self

    # ---- derived values -------------------------------------------------------------------
    @property
    def rules_path(self) -> str:
        return self.rules_file or f"rules/{self.stack}.yaml"

    @property
    def visibility_timeout_seconds(self) -> int:
        """AWS guidance: at least 6 x function timeout + batching window (<= 5,700 s with the
        bounds above, inside SQS's 12-hour maximum)."""
        return 6 * self.timeout_seconds + self.batching_window_seconds

    @property
    def images_in_flight(self) -> int:
        """Images one invocation analyses at the same time."""
        return min(self.batch_size, self.max_workers)

    @property
    def peak_rekognition_tps(self) -> float:
        """Upper bound of calls per second per Rekognition API at full concurrency."""
        return self.max_concurrency * self.images_in_flight / self.rekognition_call_seconds

    @property
    def max_safe_concurrency(self) -> int:
        """Largest maximum_concurrency whose peak call rate stays inside the quota."""
        return math.floor(
            self.rekognition_tps_quota * self.rekognition_call_seconds / self.images_in_flight
            + 1e-9
        )

    @property
    def resource_tags(self) -> dict[str, str]:
        return {"project": PROJECT, "stack": self.stack, "managed-by": "pulumi", **self.tags}


# ---- loading -------------------------------------------------------------------------------


def config_keys() -> list[str]:
    """The project's config keys the settings know (camelCase, as in the stack file)."""
    return [f.alias or name for name, f in StackSettings.model_fields.items()]


def stack_config(stack_file: Path) -> dict[str, str]:
    """The config map the engine would hand the program for this stack file."""
    data = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    return {key: encode_value(value) for key, value in (data.get("config") or {}).items()}


def encode_value(value: Any) -> str:
    """Pulumi passes scalars as strings and objects/lists as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def decode_config(raw: Mapping[str, Any], project: str = PROJECT) -> dict[str, Any]:
    """Turn the engine's ``project:key -> str`` map into plain values (objects are JSON)."""
    prefix = f"{project}:"
    decoded: dict[str, Any] = {}
    for full_key, value in raw.items():
        if not full_key.startswith(prefix):
            continue
        if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        decoded[full_key[len(prefix) :]] = value
    return decoded


def load_settings(
    raw_config: Mapping[str, Any],
    stack: str,
    stack_file: Path | None = None,
    project: str = PROJECT,
) -> StackSettings:
    """Validate the stack config; raise :class:`StackConfigError` with ``FILE:LINE: path: msg``."""
    from infra.errors import StackConfigError

    values = decode_config(raw_config, project)
    if "stack" in values:
        values["stack_"] = values.pop("stack")  # reserved: the stack name comes from Pulumi
    try:
        return StackSettings.model_validate({**values, "stack": stack})
    except ValidationError as exc:
        raise StackConfigError(
            [_format_issue(err, project, stack, stack_file) for err in exc.errors()]
        ) from None


def _format_issue(
    err: Mapping[str, Any], project: str, stack: str, stack_file: Path | None
) -> str:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    if loc and loc[0] == "stack_":
        loc = ("stack", *loc[1:])
    path = _dotted(project, loc)
    name = stack_file.name if stack_file is not None else f"Pulumi.{stack}.yaml"
    line = _locate(stack_file, project, loc) if stack_file is not None else None
    where = f"{name}:{line}" if line else name
    return f"{where}: {path}: {message}" if path else f"{where}: config: {message}"


def _dotted(project: str, loc: Sequence[str | int]) -> str:
    if not loc:
        return ""
    text = f"{project}:{loc[0]}"
    for part in loc[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _locate(stack_file: Path, project: str, loc: Sequence[str | int]) -> int | None:
    """1-based line of the deepest node of ``loc`` present in the stack file."""
    try:
        root = yaml.compose(stack_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    node = _child(root, "config")
    if node is None:
        return None
    line: int | None = None
    path: list[str | int] = [f"{project}:{loc[0]}", *loc[1:]] if loc else []
    for part in path:
        key_node, value_node = _child_with_key(node, part)
        if value_node is None:
            break
        line = (key_node or value_node).start_mark.line + 1
        node = value_node
        if isinstance(node, yaml.MappingNode) and _child(node, "value") is not None:
            # pulumi `config set --secret` / object form: {value: ...} or {secure: ...}
            node = _child(node, "value")
    return line


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    return _child_with_key(node, key)[1]


def _child_with_key(
    node: yaml.Node | None, key: str | int
) -> tuple[yaml.Node | None, yaml.Node | None]:
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        for key_node, value_node in node.value:
            if getattr(key_node, "value", None) == key:
                return key_node, value_node
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return None, node.value[key]
    return None, None
