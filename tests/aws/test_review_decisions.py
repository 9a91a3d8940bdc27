"""Review decisions in moto: images judged `review` by the real pipeline, then approved or rejected
with an audit trail, announced once, idempotent, and safe when two reviewers decide at once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from imgpipe.review import (
    DecisionConflictError,
    NotUnderReviewError,
    ReviewError,
    ReviewService,
)
from tests.support.fakes import FakeDetector
from tests.support.paths import sample

MOTO_CALLER = "arn:aws:sts::123456789012:user/moto"
IMAGES = {"beach/astronaut 1.jpg": "people/astronaut.jpg",
          "beach/astronaut 2.jpg": "people/astronaut.jpg"}


@pytest.fixture
def queued(world: Any) -> Any:
    """Two images parked in analyzed/review/ by the pipeline, their announcements drained."""
    for rel, path in IMAGES.items():
        world.put(f"images/{rel}", sample(path), ContentType="image/jpeg",
                  Metadata={"camera": "c7"})
    analyzer = world.analyzer(FakeDetector.for_scenarios({"astronaut": "beach"}))
    world.event = world.receive_event()
    assert analyzer.handle(world.event, None) == {"batchItemFailures": []}
    assert sorted_keys(world, "analyzed/") == [f"analyzed/review/{r}" for r in sorted(IMAGES)]
    assert len(world.notifications()) == 2
    return world


def sorted_keys(world: Any, prefix: str = "") -> list[str]:
    return sorted(world.keys(prefix))


def service(world: Any, **kwargs: Any) -> ReviewService:
    s = world.session
    return ReviewService(world.s3, world.bucket, sts=s.client("sts"), sns=world.sns,
                         topic_arn=world.topic_arn, cloudwatch=s.client("cloudwatch"),
                         stack="dev", **kwargs)


def test_list_and_show(queued: Any) -> None:
    items = service(queued).queue()
    assert [i.rel for i in items] == sorted(IMAGES)
    data = items[0].to_dict()
    assert data["categories"] == ["people"]
    assert data["reasons"] == ['rule "people" (label_match) -> review: Person 99.1%']
    shown = service(queued).show("images/beach/astronaut 1.jpg")
    assert shown["status"] == "pending" and shown["decisions"] == []
    assert shown["image_key"] == "analyzed/review/beach/astronaut 1.jpg"
    with pytest.raises(NotUnderReviewError):
        service(queued).show("beach/nobody.jpg")


def test_approve_moves_records_and_announces(queued: Any) -> None:
    world = queued
    # WHEN a reviewer approves one image (by any of its names)
    result = service(world).decide("analyzed/review/beach/astronaut 1.jpg", "approve",
                                   "a person at the beach, fine")
    # THEN it moved to success with its bytes, metadata and tags (verdict updated)
    assert result.status == "decided" and result.announced
    dest = "analyzed/success/beach/astronaut 1.jpg"
    assert sorted_keys(world, "analyzed/") == ["analyzed/review/beach/astronaut 2.jpg", dest]
    assert world.read(dest) == sample("people/astronaut.jpg")
    assert world.s3.head_object(Bucket=world.bucket, Key=dest)["Metadata"] == {"camera": "c7"}
    assert world.tags(dest) == {"verdict": "success", "categories": "people", "review": "approve"}
    # AND the record moved too and says who decided, when, why, and what it was
    assert sorted_keys(world, "results/") == ["results/review/beach/astronaut 2.jpg.json",
                                      "results/success/beach/astronaut 1.jpg.json"]
    record = world.json("results/success/beach/astronaut 1.jpg.json")
    assert record["verdict"] == "success" and record["destination_key"] == dest
    assert record["source_key"] == "images/beach/astronaut 1.jpg"
    review = record["review"]
    assert review["decision"] == "approve" and review["previous_verdict"] == "review"
    assert review["reviewer"] == MOTO_CALLER and review["reason"] == "a person at the beach, fine"
    assert review["decided_at"] and review["previous_destination_key"].startswith("analyzed/review/")
    # AND the decision is its own audit object
    [decision] = service(world).decisions("beach/astronaut 1.jpg")
    assert decision["reviewer"] == MOTO_CALLER and decision["verdict"] == "success"
    # AND it was announced once, with attributes subscribers can filter on
    [note] = world.notifications()
    assert note["body"]["event"] == "review_decision" and note["body"]["verdict"] == "success"
    attrs = note["MessageAttributes"]
    assert attrs["decision"] == {"Type": "String", "Value": "approve"}
    assert attrs["event"] == {"Type": "String", "Value": "review_decision"}
    assert attrs["verdict"] == {"Type": "String", "Value": "success"}
    # AND `show` now tells the story
    shown = service(world).show("beach/astronaut 1.jpg")
    assert shown["status"] == "decided" and shown["record"]["review"]["decision"] == "approve"

    # WHEN the same decision is repeated THEN nothing changes and nothing is announced again
    again = service(world).decide("beach/astronaut 1.jpg", "approve", "again")
    assert again.status == "already_decided" and again.decision["reason"] == (
        "a person at the beach, fine")
    assert world.notifications() == []
    # AND the other decision is refused, naming who decided
    with pytest.raises(DecisionConflictError, match=r"already approved by .*user/moto"):
        service(world).decide("beach/astronaut 1.jpg", "reject", "no")
    assert sorted_keys(world, "analyzed/success/") == [dest]


def test_reject_needs_a_reason_and_goes_to_failure(queued: Any) -> None:
    with pytest.raises(ReviewError, match="needs a reason"):
        service(queued).decide("beach/astronaut 2.jpg", "reject", "  ")
    with pytest.raises(NotUnderReviewError):
        service(queued).decide("beach/missing.jpg", "approve")
    result = service(queued).decide("beach/astronaut 2.jpg", "reject", "not a product photo")
    assert result.decision["to_key"] == "analyzed/failure/beach/astronaut 2.jpg"
    assert queued.json("results/failure/beach/astronaut 2.jpg.json")["review"]["decision"] == (
        "reject")


def _interleaved(world: Any, first: str, second: str) -> tuple[Any, Any]:
    """Reviewer B reads the image, then reviewer A decides it completely, then B writes."""
    a, b = service(world), service(world)
    outcome: dict[str, Any] = {}
    original = b._claim

    def claim_after_a(*args: Any) -> dict[str, Any]:
        claim = original(*args)  # B has read the record and built its decision ...
        outcome["a"] = a.decide("beach/astronaut 1.jpg", first, "A's reason")  # ... A wins
        return claim

    b._claim = claim_after_a  # type: ignore[method-assign]
    try:
        outcome["b"] = b.decide("beach/astronaut 1.jpg", second, "B's reason")
    except DecisionConflictError as exc:
        outcome["b"] = exc
    return outcome["a"], outcome["b"]


def test_two_reviewers_deciding_differently_at_once(queued: Any) -> None:
    world = queued
    a, b = _interleaved(world, "approve", "reject")
    # THEN A decided, B is told clearly who decided what, and nothing of B's happened
    assert a.status == "decided"
    assert isinstance(b, DecisionConflictError)
    assert "already approved by" in str(b) and "A's reason" in str(b)
    assert b.decision["decision"] == "approve"
    assert sorted_keys(world, "analyzed/") == ["analyzed/review/beach/astronaut 2.jpg",
                                       "analyzed/success/beach/astronaut 1.jpg"]
    assert world.json("results/success/beach/astronaut 1.jpg.json")["review"]["reason"] == (
        "A's reason")
    assert [n["body"]["verdict"] for n in world.notifications()] == ["success"]


def test_two_reviewers_deciding_the_same_way_at_once(queued: Any) -> None:
    world = queued
    a, b = _interleaved(world, "reject", "reject")
    assert a.status == "decided" and b.status == "already_decided"
    assert b.decision["reason"] == "A's reason"
    assert "already rejected by" in b.message()
    assert sorted_keys(world, "analyzed/failure/") == ["analyzed/failure/beach/astronaut 1.jpg"]
    assert len(world.notifications()) == 1  # announced once


def test_an_interrupted_decision_is_finished_by_repeating_it(queued: Any) -> None:
    world = queued
    # GIVEN the decision written, then the process dies before the image is deleted from review
    crashing = service(world)

    def die(**_: Any) -> None:
        raise RuntimeError("killed")

    crashing.s3 = type("S3", (), {})()
    for name in ("get_object", "put_object", "copy_object", "get_object_tagging", "head_object",
                 "get_paginator", "generate_presigned_url"):
        setattr(crashing.s3, name, getattr(world.s3, name))
    crashing.s3.delete_object = die
    with pytest.raises(RuntimeError):
        crashing.decide("beach/astronaut 1.jpg", "approve", "ok")
    assert "analyzed/review/beach/astronaut 1.jpg" in sorted_keys(world, "analyzed/")
    assert world.notifications() == []
    # WHEN the same decision is taken again THEN it completes: one place, one announcement
    result = service(world).decide("beach/astronaut 1.jpg", "approve", "ok")
    assert result.status == "already_decided" and result.announced
    assert sorted_keys(world, "analyzed/") == ["analyzed/review/beach/astronaut 2.jpg",
                                       "analyzed/success/beach/astronaut 1.jpg"]
    assert sorted_keys(world, "results/review/") == ["results/review/beach/astronaut 2.jpg.json"]
    assert len(world.notifications()) == 1


def test_subscribers_can_filter_on_the_decision(queued: Any) -> None:
    world = queued
    url = world.sqs.create_queue(QueueName="rejections")["QueueUrl"]
    arn = world.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    world.sns.subscribe(TopicArn=world.topic_arn, Protocol="sqs", Endpoint=arn,
                        Attributes={"FilterPolicy": json.dumps({"decision": ["reject"]})})
    service(world).decide("beach/astronaut 1.jpg", "approve", "fine")
    service(world).decide("beach/astronaut 2.jpg", "reject", "too dark")
    got = world.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(json.loads(m["Body"])["Message"])["source_key"] for m in got] == [
        "images/beach/astronaut 2.jpg"]


def test_the_review_cli(queued: Any, tmp_path: Any) -> None:
    from imgpipe.cli import app

    world = queued
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"bucket_name": world.bucket, "topic_arn": world.topic_arn,
                                   "function_name": "image-pipeline-dev-analyzer"}))
    runner = CliRunner()
    listed = runner.invoke(app, ["review", "list", "--outputs", str(outputs), "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["pending"] == 2
    approved = runner.invoke(app, ["review", "approve", "beach/astronaut 1.jpg", "--reason",
                                   "fine", "--outputs", str(outputs), "--json"])
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.stdout)["status"] == "decided"
    refused = runner.invoke(app, ["review", "reject", "beach/astronaut 1.jpg", "--reason", "no",
                                  "--outputs", str(outputs)])
    assert refused.exit_code == 1 and "already approved by" in refused.stderr
    no_reason = runner.invoke(app, ["review", "reject", "beach/astronaut 2.jpg",
                                    "--outputs", str(outputs)])
    assert no_reason.exit_code == 2 and "needs a reason" in no_reason.stderr
    shown = runner.invoke(app, ["review", "show", "images/beach/astronaut 1.jpg",
                                "--outputs", str(outputs), "--json"])
    assert json.loads(shown.stdout)["record"]["review"]["reviewer"] == MOTO_CALLER
    [note] = [n for n in world.notifications() if n["body"].get("event") == "review_decision"]
    assert note["body"]["source_key"] == "images/beach/astronaut 1.jpg"


def test_a_late_redelivery_after_the_decision_changes_nothing(queued: Any) -> None:
    # GIVEN an approved image
    world = queued
    service(world).decide("beach/astronaut 1.jpg", "approve", "fine")
    world.notifications()
    # WHEN the original upload's message is delivered again (SQS at-least-once)
    detector = FakeDetector.for_scenarios({"astronaut": "beach"})
    assert world.analyzer(detector).handle(world.event, None) == {"batchItemFailures": []}
    # THEN the pipeline sees a finished image: no analysis, no move back, no announcement
    assert detector.images == []
    assert sorted_keys(world, "analyzed/") == ["analyzed/review/beach/astronaut 2.jpg",
                                       "analyzed/success/beach/astronaut 1.jpg"]
    assert world.notifications() == []


def test_the_page_api(queued: Any) -> None:
    from imgpipe.review.web import TOKEN_HEADER, create_app

    app = create_app(service(queued), token="t0ken")
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 200 and b'content="t0ken"' in page.data
    assert b"http://" not in page.data and b"https://" not in page.data  # self-contained
    queue = client.get("/api/queue").get_json()
    assert queue["pending"] == 2 and queue["items"][0]["url"].startswith("https://")
    assert "Expires=" in queue["items"][0]["url"]  # short-lived
    body = {"key": "beach/astronaut 1.jpg", "decision": "approve", "reason": "ok"}
    # decisions need the page's token (no cross-site posts)
    assert client.post("/api/decide", json=body).status_code == 403
    assert client.post("/api/decide", json=body, headers={TOKEN_HEADER: "nope"}).status_code == 403
    ok = client.post("/api/decide", json=body, headers={TOKEN_HEADER: "t0ken"})
    assert ok.status_code == 200 and ok.get_json()["status"] == "decided"
    conflict = client.post("/api/decide", headers={TOKEN_HEADER: "t0ken"},
                           json={**body, "decision": "reject", "reason": "no"})
    assert conflict.status_code == 409 and "already approved by" in conflict.get_json()["message"]
    missing = client.post("/api/decide", headers={TOKEN_HEADER: "t0ken"},
                          json={**body, "key": "nope.jpg"})
    assert missing.status_code == 404
    bad = client.post("/api/decide", headers={TOKEN_HEADER: "t0ken"},
                      json={"key": "beach/astronaut 2.jpg", "decision": "reject"})
    assert bad.status_code == 400 and "needs a reason" in bad.get_json()["message"]
    # only this server's own name is accepted as Host once it listens (no DNS rebinding)
    app.config["ALLOWED_HOSTS"] = {"127.0.0.1:8765"}
    assert client.get("/api/queue", headers={"Host": "evil.example:8765"}).status_code == 403
    assert client.get("/api/queue", headers={"Host": "127.0.0.1:8765"}).status_code == 200
