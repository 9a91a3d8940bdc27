"""The stack's CloudWatch dashboard, as a pure function of names (tested without Pulumi).

Rows: verdicts, Rekognition calls, errors and throttles, queue and DLQ depth with the age of the
oldest message, durations, and the review backlog. The analyzer's metrics are Powertools EMF
metrics (namespace ``imgpipe``, dimension ``service``; :mod:`analyzer.app`); the review tool puts
``ReviewBacklog`` and ``ReviewDecisions`` with a ``stack`` dimension (:mod:`imgpipe.review`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: Must match analyzer.app.NAMESPACE / SERVICE (a test checks it) unless the stack overrides them
#: through POWERTOOLS_METRICS_NAMESPACE / POWERTOOLS_SERVICE_NAME.
NAMESPACE = "imgpipe"
SERVICE = "imgpipe-analyzer"
PERIOD = 300
WIDTH, HEIGHT = 12, 6


@dataclass(frozen=True)
class DashboardMetrics:
    """What the dashboard shows for one stack."""

    dashboard_name: str
    stack: str
    #: the APIs called per image (one API twice for two models: shown once)
    rekognition_apis: Sequence[str] = field(default_factory=tuple)
    namespace: str = NAMESPACE
    service: str = SERVICE


def _widget(title: str, metrics: list[list[Any]], region: str, *, x: int, y: int,
            stat: str = "Sum", **extra: Any) -> dict[str, Any]:
    return {
        "type": "metric", "x": x, "y": y, "width": WIDTH, "height": HEIGHT,
        "properties": {"title": title, "region": region, "view": "timeSeries",
                       "stacked": False, "period": PERIOD, "stat": stat, "metrics": metrics,
                       **extra},
    }


def dashboard_body(m: DashboardMetrics, *, region: str, function_name: str, queue_name: str,
                   dlq_name: str) -> str:
    """The dashboard's JSON body."""
    ns, svc = m.namespace, m.service

    def ours(metric: str, label: str, **opts: Any) -> list[Any]:
        return [ns, metric, "service", svc, {"label": label, **opts}]

    fn = ["FunctionName", function_name]
    widgets = [
        _widget("Verdicts (images per 5 min)", [
            ours("ImagesSuccess", "success", color="#1b7f3b"),
            ours("ImagesFailure", "failure", color="#b42318"),
            ours("ImagesReview", "review", color="#b54708"),
            ours("PrecheckRejections", "rejected by pre-checks"),
        ], region, x=0, y=0),
        _widget("Rekognition calls", [
            # one line per API: two models are two calls of one API, counted in one metric
            ours(f"Rekognition{api}", api) for api in dict.fromkeys(m.rekognition_apis)
        ] or [ours("RekognitionDetectLabels", "DetectLabels")], region, x=WIDTH, y=0),
        _widget("Errors and throttles", [
            ["AWS/Lambda", "Errors", *fn, {"label": "function errors"}],
            ["AWS/Lambda", "Throttles", *fn, {"label": "function throttles"}],
            ours("FailedMessages", "messages retried"),
            ours("Throttled", "Rekognition throttled"),
            # a Custom Labels model or adapter that cannot answer (stopped, wrong ARN): retried
            ours("ModelUnavailable", "custom model unavailable", color="#b42318"),
            ours("RuleErrors", "rules that failed"),
        ], region, x=0, y=HEIGHT),
        _widget("Queue and DLQ", [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue_name,
             {"label": "queued", "stat": "Maximum"}],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dlq_name,
             {"label": "DLQ depth", "stat": "Maximum", "color": "#b42318"}],
            ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue_name,
             {"label": "oldest message age (s)", "stat": "Maximum", "yAxis": "right"}],
        ], region, x=WIDTH, y=HEIGHT, stat="Maximum"),
        _widget("Durations (ms)", [
            ["AWS/Lambda", "Duration", *fn, {"label": "invocation p50", "stat": "p50"}],
            ["AWS/Lambda", "Duration", *fn, {"label": "invocation p99", "stat": "p99"}],
            ours("ImageDuration", "per image p50", stat="p50"),
            ours("ImageDuration", "per image p99", stat="p99"),
        ], region, x=0, y=2 * HEIGHT, stat="p50"),
        _widget("Review backlog", [
            [ns, "ReviewBacklog", "stack", m.stack,
             {"label": "waiting for a person", "stat": "Maximum"}],
            ours("ImagesReview", "new for review"),
            [ns, "ReviewDecisions", "stack", m.stack, "decision", "approve", {"label": "approved"}],
            [ns, "ReviewDecisions", "stack", m.stack, "decision", "reject", {"label": "rejected"}],
        ], region, x=WIDTH, y=2 * HEIGHT),
    ]
    return json.dumps({"widgets": widgets}, separators=(",", ":"))
