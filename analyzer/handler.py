"""The Lambda entry point: ``analyzer.handler.handler(event, context)`` (docs/contracts.md §5).

Everything expensive happens once per container, at init: settings are validated, the rules file
at ``RULES_PATH`` is loaded and validated (a bad file fails the init loudly, so messages stay in
the queue and reach the DLQ instead of being misjudged), and the boto3 clients are created.
X-Ray tracing (``TRACING=true``) is imported only when asked for: it costs ~300 ms of cold start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analyzer.app import Analyzer
from analyzer.batch import PartialBatchResponse

Handle = Callable[[Any, Any], PartialBatchResponse]

ANALYZER = Analyzer.from_env()


def _traced(analyzer: Analyzer) -> Handle:
    """``analyzer.handle``, wrapped by Powertools Tracer when ``TRACING=true`` and available."""
    if not analyzer.settings.tracing:
        return analyzer.handle
    try:
        import aws_xray_sdk  # noqa: F401 - Tracer needs it; the default layer leaves it out
        from aws_lambda_powertools import Tracer
    except ImportError:
        analyzer.logger.warning(
            "TRACING=true but aws-xray-sdk is not packaged with the function; tracing is off"
        )
        return analyzer.handle
    tracer = Tracer(service=analyzer.logger.service)
    traced: Handle = tracer.capture_method(analyzer.handle)
    return traced


_handle = _traced(ANALYZER)


def handler(event: dict[str, Any], context: Any) -> PartialBatchResponse:
    """Process one SQS batch of S3 notifications; return the partial batch response."""
    return _handle(event, context)
