"""The function policy's Rekognition statements, as pure documents (no Pulumi, no moto): the
actions without resource-level permissions together on "*", each scoped action alone on exactly
its project versions, "*" winning over models, and the dashboard counting an API once."""

from __future__ import annotations

import json

from infra.components.dashboard import DashboardMetrics, dashboard_body
from infra.policies import FunctionGrants, function_policy, rekognition_statements
from rules.analyses import iam_grants

SHOES = "arn:aws:rekognition:eu-west-1:123456789012:project/shoes/version/shoes.2026-11-30/1764460800000"
BAGS = "arn:aws:rekognition:eu-west-1:123456789012:project/bags/version/bags.2026-10-01/1759276800000"
ADAPTER = "arn:aws:rekognition:eu-west-1:123456789012:project/nsfw/version/nsfw.2026-09-01/1756684800000"


def _allow(sid: str, actions: list[str], resources: list[str]) -> dict[str, object]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def test_unscoped_actions_share_star_and_each_scoped_action_names_its_models() -> None:
    # GIVEN rules needing labels, text, two Custom Labels models and a moderation adapter
    grants = iam_grants(["text", f"custom_labels@{SHOES}", "labels", f"custom_labels@{BAGS}",
                         f"moderation_adapter@{ADAPTER}"])
    # THEN one statement on "*", then one per scoped action with its models sorted
    assert rekognition_statements(grants) == [
        _allow("RekognitionNeededByRules", ["rekognition:DetectLabels", "rekognition:DetectText"], ["*"]),
        _allow("RekognitionDetectCustomLabelsOnProjectVersions", ["rekognition:DetectCustomLabels"],
               [BAGS, SHOES]),
        _allow("RekognitionDetectModerationLabelsOnProjectVersions",
               ["rekognition:DetectModerationLabels"], [ADAPTER]),
    ]


def test_star_wins_when_an_action_is_needed_with_and_without_a_model() -> None:
    # base moderation ("*") and an adapter: "*" already covers the adapter
    expected = [_allow("RekognitionNeededByRules", ["rekognition:DetectModerationLabels"], ["*"])]
    assert rekognition_statements(iam_grants(["moderation", f"moderation_adapter@{ADAPTER}"])) == expected
    # the same when the mapping comes unsorted and mixed from elsewhere
    assert rekognition_statements({"rekognition:DetectModerationLabels": [ADAPTER, "*"]}) == expected


def test_models_are_listed_once_and_sorted() -> None:
    [stmt] = rekognition_statements({"rekognition:DetectCustomLabels": [SHOES, BAGS, SHOES]})
    assert stmt["Resource"] == [BAGS, SHOES]


def test_no_rekognition_need_means_no_rekognition_statement() -> None:
    assert rekognition_statements({}) == []
    assert rekognition_statements(iam_grants([])) == []


def test_function_policy_places_the_rekognition_statements_between_s3_and_sns() -> None:
    grants = iam_grants(["labels", f"custom_labels@{SHOES}"])
    doc = function_policy(FunctionGrants(
        bucket_arn="arn:aws:s3:::b", input_prefix="images/", output_prefix="analyzed/",
        results_prefix="results/", topic_arn="arn:aws:sns:eu-west-1:123456789012:t",
        queue_arn="arn:aws:sqs:eu-west-1:123456789012:q",
        table_arn="arn:aws:dynamodb:eu-west-1:123456789012:table/t",
        log_group_arn="arn:aws:logs:eu-west-1:123456789012:log-group:l", rekognition=grants))
    sids = [s["Sid"] for s in doc["Statement"]]
    at = sids.index("RekognitionNeededByRules")
    assert sids[at - 1:at + 3] == ["HeadOfMissingKeyAnswers404", "RekognitionNeededByRules",
                                   "RekognitionDetectCustomLabelsOnProjectVersions", "PublishVerdicts"]
    assert len(sids) == len(set(sids))


def test_dashboard_shows_an_api_once_however_many_models_call_it() -> None:
    metrics = DashboardMetrics("d", "dev", ["DetectLabels", "DetectCustomLabels", "DetectCustomLabels"])
    body = json.loads(dashboard_body(metrics, region="eu-west-1", function_name="f",
                                     queue_name="q", dlq_name="dlq"))
    [calls] = [w for w in body["widgets"] if w["properties"]["title"] == "Rekognition calls"]
    assert [m[1] for m in calls["properties"]["metrics"]] == [
        "RekognitionDetectLabels", "RekognitionDetectCustomLabels"]
