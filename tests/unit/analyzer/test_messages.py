"""Per-protocol texts of an announcement: pure functions, no AWS."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from analyzer.messages import (
    MESSAGE_MAX_BYTES,
    NOTIFICATION_SCHEMA,
    SMS_MAX,
    decision_messages,
    fit_sms,
    stack_label,
    verdict_messages,
)

BODY = {
    "bucket": "photos", "source_key": "images/cams/north/IMG_0001.jpg",
    "destination_key": "analyzed/review/cams/north/IMG_0001.jpg",
    "record_key": "results/review/cams/north/IMG_0001.jpg.json",
    "verdict": "review", "categories": ["people"], "reason": None, "rules": "wildlife",
    "matches": [{"rule": "people", "type": "label_match", "outcome": "review",
                 "category": "people", "evidence": [{"label": "Person", "confidence": 97.25}]}],
}


def test_three_texts_and_a_versioned_json_body() -> None:
    message = json.loads(verdict_messages(BODY, "dev"))
    assert set(message) == {"default", "sms", "email"}
    body = json.loads(message["default"])
    assert body == {"schema": NOTIFICATION_SCHEMA, "event": "verdict", **BODY}
    assert message["sms"] == "imgpipe dev: REVIEW cams/north/IMG_0001.jpg - people: Person 97.2%"
    email = message["email"]
    assert "Categories:  people" in email
    assert 'rule "people" (label_match) -> review: Person 97.2%' in email
    assert "s3://photos/analyzed/review/cams/north/IMG_0001.jpg" in email
    assert "imgpipe review approve 'cams/north/IMG_0001.jpg'" in email


def test_precheck_rejection_is_explained_in_words() -> None:
    body = {**BODY, "verdict": "failure", "reason": "too_small", "matches": [], "categories": []}
    message = json.loads(verdict_messages(body, "prod"))
    assert message["sms"].endswith("- too_small")
    assert "not analysed:" in message["email"] and "(too_small)" in message["email"]


def test_no_rule_matched() -> None:
    body = {**BODY, "verdict": "failure", "matches": [], "categories": []}
    message = json.loads(verdict_messages(body, "prod"))
    assert message["sms"].endswith("- no rule matched")
    assert "default verdict" in message["email"]


@given(st.text(min_size=0, max_size=400), st.text(max_size=300), st.text(max_size=40))
def test_sms_never_exceeds_the_limit(key: str, reason: str, stack: str) -> None:
    sms = json.loads(verdict_messages({**BODY, "source_key": key, "reason": reason or None},
                                      stack or "x"))["sms"]
    assert len(sms) <= SMS_MAX and "\n" not in sms


def test_long_keys_keep_both_ends() -> None:
    sms = fit_sms("imgpipe prod: FAILURE", "a" * 50 + "/middle/" + "b" * 120 + "/file.jpg",
                  "unsafe: Violence 99.0%")
    assert len(sms) <= SMS_MAX and sms.startswith("imgpipe prod: FAILURE aaa")
    assert "..." in sms


def test_huge_evidence_is_dropped_to_fit_sns() -> None:
    many = [{"rule": f"r{i}", "type": "text_detection", "outcome": "tag",
             "evidence": [{"text": "x" * 2000, "match": "x", "confidence": 99.0}] * 5}
            for i in range(40)]
    message = verdict_messages({**BODY, "matches": many}, "dev")
    assert len(message.encode()) <= MESSAGE_MAX_BYTES
    body = json.loads(json.loads(message)["default"])
    assert body["truncated"] is True and all("evidence" not in m for m in body["matches"])


def test_decision_message() -> None:
    body = {**BODY, "verdict": "success", "destination_key": "analyzed/success/cams/north/IMG_0001.jpg",
            "review": {"decision": "approve", "reviewer": "arn:aws:iam::1:user/ana",
                       "reviewer_name": "ana", "decided_at": "2026-12-02T05:00:00+00:00",
                       "reason": "hiker, not an intruder", "previous_verdict": "review"}}
    message = json.loads(decision_messages(body, "dev"))
    assert json.loads(message["default"])["event"] == "review_decision"
    assert message["sms"].startswith("imgpipe dev: APPROVED by ana cams/north/IMG_0001.jpg")
    assert len(message["sms"]) <= SMS_MAX
    assert "Why:         hiker, not an intruder" in message["email"]
    assert "approved -> success (was review)" in message["email"]


def test_stack_label() -> None:
    assert stack_label({"IMGPIPE_STACK": "qa"}) == "qa"
    assert stack_label({"AWS_LAMBDA_FUNCTION_NAME": "image-pipeline-prod-analyzer"}) == "prod"
    assert stack_label({"AWS_LAMBDA_FUNCTION_NAME": "other"}) == "imgpipe"
    assert stack_label({}) == "imgpipe"
