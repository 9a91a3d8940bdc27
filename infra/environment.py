"""The analyzer function's environment (docs/contracts.md §5), derived from the stack settings.

Extra variables from ``image-pipeline:environment`` are checked against the analyzer's own
settings model at preview, so a bad value fails ``pulumi preview`` instead of every invocation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analyzer.layout import DEFAULT_LAYOUT
from infra.artifacts import LAMBDA_TASK_ROOT, RULES_IN_PACKAGE
from infra.settings import StackSettings

#: The stack's bucket layout: the analyzer's defaults, written into the function's environment.
INPUT_PREFIX = DEFAULT_LAYOUT.input_prefix
OUTPUT_PREFIX = DEFAULT_LAYOUT.output_prefix
RESULTS_PREFIX = DEFAULT_LAYOUT.results_prefix
RULES_PATH = f"{LAMBDA_TASK_ROOT}/{RULES_IN_PACKAGE}"
#: Variables outside the analyzer's model that the function may also receive.
_PASSTHROUGH_PREFIXES = ("POWERTOOLS_", "AWS_LAMBDA_LOG_")


def function_environment(
    settings: StackSettings,
    *,
    bucket_name: Any,
    topic_arn: Any,
    table_name: Any = None,
) -> dict[str, Any]:
    """Every variable the function gets; values may be pulumi Outputs. ``IDEMPOTENCY_TABLE`` is
    left out when ``table_name`` is None (the function component adds its own table's name)."""
    env: dict[str, Any] = {
        "RULES_PATH": RULES_PATH,
        "TOPIC_ARN": topic_arn,
        "INPUT_PREFIX": INPUT_PREFIX,
        "OUTPUT_PREFIX": OUTPUT_PREFIX,
        "RESULTS_PREFIX": RESULTS_PREFIX,
        "IDEMPOTENCY_TABLE": table_name,
        "IDEMPOTENCY_TTL_SECONDS": str(settings.idempotency_ttl_seconds),
        "BUCKET_NAME": bucket_name,
        "MAX_WORKERS": str(settings.max_workers),
        **settings.environment,
    }
    if table_name is None:
        del env["IDEMPOTENCY_TABLE"]
    return env


def check_environment(settings: StackSettings) -> list[str]:
    """Problems with the environment the stack would deploy (empty when it is valid)."""
    from analyzer.config import Settings
    from analyzer.errors import ConfigError

    known = {f.alias for f in Settings.model_fields.values() if f.alias}
    problems = [
        f"image-pipeline:environment.{name}: unknown analyzer variable "
        f"(known: {', '.join(sorted(known))})"
        for name in sorted(settings.environment)
        if name not in known and not name.startswith(_PASSTHROUGH_PREFIXES)
    ]
    sample: Mapping[str, str] = {
        k: str(v)
        for k, v in function_environment(
            settings,
            bucket_name="bucket",
            topic_arn="arn:aws:sns:us-east-1:123456789012:topic",
            table_name="table",
        ).items()
    }
    try:
        Settings.from_env(sample)
    except ConfigError as exc:
        problems.append(f"image-pipeline:environment: {exc}")
    return problems
