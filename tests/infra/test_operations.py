"""Issue 14's operations, under Pulumi mocks for both real stacks: the alarm on the age of the
oldest queued message, the stack's dashboard, and a lifecycle that never archives images still
waiting for a person."""

from __future__ import annotations

import json

from infra.components.dashboard import NAMESPACE, SERVICE
from infra.mockrun import ProgramRun
from tests.infra.conftest import settings_of

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"


def test_alarm_on_the_oldest_queued_message(run: ProgramRun) -> None:
    s = settings_of(run.stack)
    alarm = run.named(f"imgpipe-{run.stack}-monitoring-queue-oldest-message").inputs
    queue = run.named(f"imgpipe-{run.stack}-queueing-queue").outputs["name"]
    ops = run.named(f"imgpipe-{run.stack}-monitoring-ops-topic").outputs["arn"]
    assert alarm["namespace"] == "AWS/SQS"
    assert alarm["metricName"] == "ApproximateAgeOfOldestMessage"
    assert alarm["dimensions"] == {"QueueName": queue}  # the main queue, not the DLQ
    assert alarm["statistic"] == "Maximum"
    assert alarm["threshold"] == s.alarms.queue_age_seconds == 1800
    assert alarm["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["alarmActions"] == [ops] and alarm["okActions"] == [ops]


def test_dashboard_shows_the_pipeline(run: ProgramRun) -> None:
    # GIVEN the stack's one dashboard
    dashboard = run.one(DASHBOARD)
    assert dashboard.inputs["dashboardName"] == f"imgpipe-{run.stack}"
    assert run.outputs["dashboard_name"] == f"imgpipe-{run.stack}"
    widgets = json.loads(dashboard.inputs["dashboardBody"])["widgets"]
    by_title = {w["properties"]["title"]: w["properties"] for w in widgets}
    # THEN it has a row for each question an operator asks
    assert set(by_title) == {
        "Verdicts (images per 5 min)", "Rekognition calls", "Errors and throttles",
        "Queue and DLQ", "Durations (ms)", "Review backlog"}
    fn = run.one("aws:lambda/function:Function").outputs["name"]
    queue = run.named(f"imgpipe-{run.stack}-queueing-queue").outputs["name"]
    dlq = run.named(f"imgpipe-{run.stack}-queueing-dlq").outputs["name"]

    def names(title: str) -> list[tuple[str, ...]]:
        return [tuple(str(p) for p in m if not isinstance(p, dict)) for m in by_title[title]["metrics"]]

    assert {m[1] for m in names("Verdicts (images per 5 min)")} >= {
        "ImagesSuccess", "ImagesFailure", "ImagesReview"}
    assert all(m[:4] == (NAMESPACE, m[1], "service", SERVICE)
               for m in names("Verdicts (images per 5 min)"))
    # the Rekognition APIs this stack's rules call, as the function names its metrics
    from rules import load_ruleset
    from tests.infra.conftest import ROOT

    apis = load_ruleset(ROOT / f"rules/{run.stack}.yaml").needs.api_calls
    assert [m[1] for m in names("Rekognition calls")] == [f"Rekognition{a}" for a in apis]
    assert ("AWS/Lambda", "Errors", "FunctionName", fn) in names("Errors and throttles")
    assert ("AWS/Lambda", "Throttles", "FunctionName", fn) in names("Errors and throttles")
    assert {(NAMESPACE, m, "service", SERVICE) for m in ("ModelUnavailable", "RuleErrors", "Throttled")} <= set(
        names("Errors and throttles"))
    queue_rows = names("Queue and DLQ")
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dlq) in queue_rows
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue) in queue_rows
    assert ("AWS/Lambda", "Duration", "FunctionName", fn) in names("Durations (ms)")
    assert (NAMESPACE, "ReviewBacklog", "stack", run.stack) in names("Review backlog")
    assert all(w["properties"]["region"] == "us-east-1" or w["properties"]["region"]
               for w in widgets)
    # AND widgets do not overlap on the grid
    cells = [(w["x"] + dx, w["y"] + dy) for w in widgets
             for dx in range(w["width"]) for dy in range(w["height"])]
    assert len(cells) == len(set(cells))


def test_dashboard_metric_names_match_the_function() -> None:
    from analyzer.app import NAMESPACE as FUNCTION_NAMESPACE
    from analyzer.app import SERVICE as FUNCTION_SERVICE
    from imgpipe.review.service import METRICS_NAMESPACE

    assert (NAMESPACE, SERVICE) == (FUNCTION_NAMESPACE, FUNCTION_SERVICE)
    assert METRICS_NAMESPACE == NAMESPACE


def _archived(rules: list[dict], key: str) -> bool:
    """Would an enabled transition rule of this configuration ever archive ``key``?"""
    for rule in rules:
        if rule.get("status") != "Enabled" or not rule.get("transitions"):
            continue
        flt = rule.get("filter") or {}
        prefix = (flt.get("and") or {}).get("prefix", flt.get("prefix", ""))
        if key.startswith(prefix or ""):
            return True
    return False


def test_images_under_review_are_never_archived(run: ProgramRun) -> None:
    rules = run.one(LIFECYCLE).inputs["rules"]
    assert not _archived(rules, "analyzed/review/cams/a.jpg")
    assert _archived(rules, "analyzed/success/cams/a.jpg")
    assert _archived(rules, "analyzed/failure/cams/a.jpg")
    assert not _archived(rules, "images/cams/a.jpg")
    # no rule filters on tags or sizes that could let a review image slip into a transition
    for rule in rules:
        if rule.get("transitions"):
            assert set(rule["filter"]) == {"and"}
            assert set(rule["filter"]["and"]) == {"prefix", "objectSizeGreaterThan"}
