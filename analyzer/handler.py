"""The Lambda entry point: ``analyzer.handler.handler(event, context)`` (CONTRACTS §5).

Everything expensive happens once per container, at init: settings are validated, the rules file
at ``RULES_PATH`` is loaded and validated (a bad file fails the init loudly, so messages stay in
the queue and reach the DLQ instead of being misjudged), and the boto3 clients are created.
X-Ray tracing (``TRACING=true``) is imported only when asked for: it costs ~300 ms of cold start.
"""

from __future__ import annotations

from typing import Any

from analyzer.app import Analyzer
from analyzer.batch import PartialBatchResponse

ANALYZER = Analyzer.from_env()

if ANALYZER.settings.tracing:  # pragma: no cover - needs the X-Ray SDK and a Lambda environment
    from aws_lambda_powertools import Tracer

    _tracer = Tracer(service="imgpipe-analyzer")
    _handle = _tracer.capture_method(ANALYZER.handle)
else:
    _handle = ANALYZER.handle


def handler(event: dict[str, Any], context: Any) -> PartialBatchResponse:
    """Process one SQS batch of S3 notifications; return the partial batch response."""
    return _handle(event, context)
